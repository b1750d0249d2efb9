"""GoogLeNet family: the paper's Table 1, the auxiliary heads, the naive module, torchvision's layout.

Reference numbers are docs/paper-facts.md section 5 ([V] items). The registry-driven checks (params and MACs
of every default model, gradients, golden outputs, export) live in test_models.py.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnzoo
from cnnzoo.errors import InputShapeError
from cnnzoo.layers import Concat
from cnnzoo.models.googlenet import GoogLeNetOutputs
from model_cases import conv_linear_macs

# docs/paper-facts.md 5, Table 1 [V]: module -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj),
# output (C, H, W) at 224x224, weights without biases, MACs. Typed in from paper-facts, not imported.
TABLE_1 = {
    "3a": ((64, 96, 128, 16, 32, 32), (256, 28, 28), 163_328, 128.0e6),
    "3b": ((128, 128, 192, 32, 96, 64), (480, 28, 28), 388_096, 304.3e6),
    "4a": ((192, 96, 208, 16, 48, 64), (512, 14, 14), 375_552, 73.6e6),
    "4b": ((160, 112, 224, 24, 64, 64), (512, 14, 14), 448_512, 87.9e6),
    "4c": ((128, 128, 256, 24, 64, 64), (512, 14, 14), 509_440, 99.9e6),
    "4d": ((112, 144, 288, 32, 64, 64), (528, 14, 14), 604_672, 118.5e6),
    "4e": ((256, 160, 320, 32, 128, 128), (832, 14, 14), 867_328, 170.0e6),
    "5a": ((256, 160, 320, 32, 128, 128), (832, 7, 7), 1_042_432, 51.1e6),
    "5b": ((384, 192, 384, 48, 128, 128), (1024, 7, 7), 1_442_816, 70.7e6),
}
def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _meta_model(name: str, **options) -> nn.Module:
    """A model on the meta device: shapes and FLOP counts without allocating or computing."""
    with torch.device("meta"):
        return cnnzoo.create_model(name, **options)


@pytest.fixture(scope="module")
def paper_net() -> nn.Module:
    torch.manual_seed(0)
    return cnnzoo.create_model("googlenet")


@pytest.fixture(scope="module")
def eval_features(paper_net):
    """Outputs of every Inception module of the paper's network on one 224x224 image (eval)."""
    outputs = {}
    hooks = [getattr(paper_net, f"inception{k}").register_forward_hook(
        lambda m, i, o, k=k: outputs.__setitem__(k, o)) for k in TABLE_1]
    paper_net.eval()
    with torch.no_grad():
        logits = paper_net(torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)))
    for h in hooks:
        h.remove()
    return logits, outputs


def test_table1_filter_counts_are_built(paper_net):
    for key, (counts, _, _, _) in TABLE_1.items():
        m = getattr(paper_net, f"inception{key}")
        built = (m.branch1x1.conv.out_channels, m.branch3x3.reduce.out_channels,
                 m.branch3x3.conv.out_channels, m.branch5x5.reduce.out_channels,
                 m.branch5x5.conv.out_channels, m.branch_pool.proj.out_channels)
        assert built == counts, key


def test_inception_output_channels_and_sizes(eval_features):
    logits, outputs = eval_features
    assert logits.shape == (1, 1000)
    for key, (_, chw, _, _) in TABLE_1.items():
        assert tuple(outputs[key].shape[1:]) == chw, key


def test_real_5x5_convolutions(paper_net):
    for key in TABLE_1:
        conv = getattr(paper_net, f"inception{key}").branch5x5.conv
        assert conv.kernel_size == (5, 5) and conv.padding == (2, 2), key
        assert conv.weight.shape[-2:] == (5, 5)
    # torchvision's layout keeps its documented 3x3 (issue #906)
    tv = _meta_model("googlenet_tv")
    assert tv.inception3a.branch3[1].conv.kernel_size == (3, 3)


def test_per_module_weights_andconv_linear_macs(paper_net):
    """Weights (no biases) and MACs of each module against docs/paper-facts.md's Table 1 columns."""
    for key, (_, chw, weights, macs) in TABLE_1.items():
        m = getattr(paper_net, f"inception{key}")
        assert sum(p.numel() for n, p in m.named_parameters() if n.endswith("weight")) == weights
        c_in = m.branch1x1.conv.in_channels
        measured = conv_linear_macs(m, torch.zeros(1, c_in, chw[1], chw[2]))
        assert measured == pytest.approx(macs, abs=0.05e6), key


def test_parameter_counts():
    net = _meta_model("googlenet")
    assert _params(net.aux1) == 3_188_840
    assert _params(net.aux2) == 3_190_888
    assert _params(net) == 13_378_280
    assert _params(_meta_model("googlenet", aux_logits=False)) == 6_998_552
    assert _params(_meta_model("googlenet_tv")) == 6_624_904
    assert _params(_meta_model("googlenet_tv", aux_logits=True)) == 13_004_888


def test_macs_inference_and_training():
    x = torch.empty(1, 3, 224, 224, device="meta")
    net = _meta_model("googlenet")
    assert conv_linear_macs(net.eval(), x) == 1_582_671_872  # paper-facts: 1.583G
    aux_macs = conv_linear_macs(net.train(), x) - 1_582_671_872
    assert 7e6 < aux_macs < 9e6  # paper-facts: "the aux heads add about 8M"
    assert conv_linear_macs(_meta_model("googlenet_tv").eval(), x) == 1_498_376_192


def weight_layers_on_longest_path(model: nn.Module, x: torch.Tensor) -> int:
    """Layers with parameters (convolutions, linear layers) on the longest path of the autograd
    graph from input to output: depth as the papers count it, measured from the real data flow."""
    out = model(x)
    memo: dict = {}

    def depth(fn) -> int:
        if fn is None:
            return 0
        if fn not in memo:
            own = type(fn).__name__.startswith(("Convolution", "Addmm", "Linear", "Mm"))
            memo[fn] = int(own) + max((depth(f) for f, _ in fn.next_functions), default=0)
        return memo[fn]

    return depth(out.grad_fn)


@pytest.mark.parametrize("name,size,expected", [("resnet20", 32, 20), ("lenet5_modern", 32, 5)])
def test_longest_path_measure_agrees_with_known_depths(name, size, expected):
    model = cnnzoo.create_model(name).eval()
    x = torch.randn(1, cnnzoo.model_info(name).input_size[0], size, size)
    assert weight_layers_on_longest_path(model, x) == expected


def test_weight_layers_on_the_deepest_path(paper_net):
    """22 layers with parameters (paper Sec. 5): conv1, conv2_reduce, conv2, two per Inception
    module, fc; measured on the autograd graph of a forward pass (aux heads: eval mode, off)."""
    depth = weight_layers_on_longest_path(paper_net.eval(), torch.randn(1, 3, 224, 224))
    assert depth == 22
    assert all(isinstance(getattr(paper_net, f"inception{k}").branch3x3.reduce, nn.Conv2d)
               for k in TABLE_1)


def test_training_returns_named_outputs_in_order():
    torch.manual_seed(0)
    net = cnnzoo.create_model("googlenet", num_classes=10).train()
    seen = {}
    hooks = [
        net.inception4a.register_forward_hook(lambda m, i, o: seen.__setitem__("4a", o)),
        net.inception4d.register_forward_hook(lambda m, i, o: seen.__setitem__("4d", o)),
        net.aux1.register_forward_hook(lambda m, i, o: seen.__setitem__("aux1", (i[0], o))),
        net.aux2.register_forward_hook(lambda m, i, o: seen.__setitem__("aux2", (i[0], o))),
    ]
    out = net(torch.randn(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    assert isinstance(out, GoogLeNetOutputs) and isinstance(out, tuple)
    assert GoogLeNetOutputs._fields == ("logits", "aux1", "aux2")
    assert all(t.shape == (1, 10) for t in out)
    # aux1 is the head on 4a's output, aux2 the head on 4d's
    assert seen["aux1"][0] is seen["4a"] and seen["aux1"][1] is out.aux1
    assert seen["aux2"][0] is seen["4d"] and seen["aux2"][1] is out.aux2
    assert net.aux_loss_weight == 0.3

    # the paper's training loss reaches every parameter
    y = torch.tensor([3])
    loss = F.cross_entropy(out.logits, y) + net.aux_loss_weight * (
        F.cross_entropy(out.aux1, y) + F.cross_entropy(out.aux2, y))
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing


def test_eval_and_no_aux_return_a_tensor(eval_features):
    logits, _ = eval_features
    assert type(logits) is torch.Tensor
    net = _meta_model("googlenet", aux_logits=False).train()
    assert net.aux1 is None and net.aux2 is None
    out = net(torch.empty(1, 3, 224, 224, device="meta"))
    assert type(out) is torch.Tensor and out.shape == (1, 1000)
    tv = _meta_model("googlenet_tv", aux_logits=True, num_classes=7).train()
    out = tv(torch.empty(2, 3, 224, 224, device="meta"))
    assert isinstance(out, GoogLeNetOutputs) and all(t.shape == (2, 7) for t in out)
    assert type(tv.eval()(torch.empty(1, 3, 224, 224, device="meta"))) is torch.Tensor


def test_naive_inception_costs_more():
    """Paper Sec. 4: without the 1x1 reductions the cost blows up within a few stages."""
    x = torch.empty(1, 3, 224, 224, device="meta")
    naive = _meta_model("googlenet", inception="naive", aux_logits=False).eval()
    bottleneck = _meta_model("googlenet", aux_logits=False).eval()
    naive_macs, bottleneck_macs = conv_linear_macs(naive, x), conv_linear_macs(bottleneck, x)
    # measured: 12,568,061,056 vs 1,582,671,872, i.e. 7.94x; params 97,526,008 vs 6,998,552
    assert naive_macs / bottleneck_macs == pytest.approx(7.94, abs=0.01)
    assert _params(naive) > 10 * _params(bottleneck)
    # no reductions and no pool projection: each module passes its input channels on
    assert naive.inception3a.out_channels == 64 + 128 + 32 + 192
    assert naive.fc.in_features == 4944
    assert not hasattr(naive.inception3a.branch3x3, "reduce")
    assert naive.inception3a.branch5x5.conv.kernel_size == (5, 5)
    assert all(not isinstance(m, nn.Conv2d) for m in naive.inception3a.branch_pool)
    out = naive(x)
    assert out.shape == (1, 1000)


def test_stem_lrn_and_pools(paper_net):
    for norm in (paper_net.norm1, paper_net.norm2):
        assert isinstance(norm, nn.LocalResponseNorm)
        assert (norm.size, norm.alpha, norm.beta, norm.k) == (5, 5e-4, 0.75, 2.0)
    for pool in (paper_net.pool1, paper_net.pool2, paper_net.pool3, paper_net.pool4):
        assert (pool.kernel_size, pool.stride, pool.ceil_mode) == (3, 2, True)
    assert paper_net.dropout.p == 0.4 and paper_net.aux1.dropout.p == 0.7
    assert isinstance(paper_net.avgpool, nn.AvgPool2d) and paper_net.avgpool.kernel_size == 7


def test_hooks_see_every_step(paper_net):
    relus = [m for m in paper_net.modules() if isinstance(m, nn.ReLU)]
    convs = [m for m in paper_net.modules() if isinstance(m, nn.Conv2d)]
    assert len(relus) == len(convs) + 2  # one per conv, plus the aux heads' hidden fc
    assert not any(m.inplace for m in relus)
    assert all(isinstance(getattr(paper_net, f"inception{k}").concat, Concat) for k in TABLE_1)


@torch.no_grad()
def test_caffe_xavier_init(paper_net):
    w = paper_net.inception4e.branch3x3.conv.weight  # fan_in 160 * 9, 460,800 weights
    fan_in = w[0].numel()
    assert w.abs().max() <= math.sqrt(3 / fan_in)
    assert w.std().item() == pytest.approx(1 / math.sqrt(fan_in), rel=0.02)
    assert torch.all(paper_net.conv1.bias == 0.2)
    assert torch.all(paper_net.aux1.fc.bias == 0.2)
    assert torch.all(paper_net.fc.bias == 0) and torch.all(paper_net.aux2.classifier.bias == 0)
    default = _meta_model("googlenet", init="default")
    assert isinstance(default, nn.Module)


def test_input_checks():
    net = _meta_model("googlenet")
    with pytest.raises(InputShapeError, match="224x224"):
        net(torch.empty(1, 3, 227, 227, device="meta"))
    with pytest.raises(InputShapeError):
        net(torch.empty(1, 1, 224, 224, device="meta"))
    tv = _meta_model("googlenet_tv").eval()
    assert tv(torch.empty(1, 3, 160, 160, device="meta")).shape == (1, 1000)
    with pytest.raises(ValueError, match="inception"):
        cnnzoo.create_model("googlenet", inception="wide")


@pytest.mark.parametrize("aux", [False, True])
def test_googlenet_tv_state_dict_keys_match_torchvision(aux):
    import torchvision
    theirs = torchvision.models.googlenet(weights=None, aux_logits=aux, init_weights=False)
    ours = _meta_model("googlenet_tv", aux_logits=aux)
    assert list(ours.state_dict().keys()) == list(theirs.state_dict().keys())
    assert [tuple(t.shape) for t in ours.state_dict().values()] == \
        [tuple(t.shape) for t in theirs.state_dict().values()]


@pytest.mark.parametrize("transform_input", [False, True])
@torch.no_grad()
def test_googlenet_tv_matches_torchvision_outputs(transform_input):
    import torchvision
    torch.manual_seed(0)
    theirs = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True,
                                          transform_input=transform_input).eval()
    # non-trivial BatchNorm statistics, so the comparison covers them
    for m in theirs.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ours = cnnzoo.create_model("googlenet_tv", transform_input=transform_input, init="default")
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 224, 224)
    torch.testing.assert_close(ours.eval()(x), theirs(x), rtol=1e-4, atol=1e-5)
