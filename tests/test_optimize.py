"""optimize(): BatchNorm folding exact against eager (1e-5) for every BatchNorm family, every
installed runtime, bf16 refused or reported, and the one-line message for a missing runtime."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.errors import CnnzooError, InputShapeError, OptionError
from cnnzoo.export import MissingRuntimeError, fold_batchnorm, installed_runtimes, optimize
from cnnzoo.export import runtimes as rt
from cnnzoo.export.fold import randomize_batchnorm

# One network of each family that has BatchNorm (CIFAR ResNet, plain net, VGG-BN, BN-GoogLeNet,
# ImageNet ResNets basic and bottleneck); heavy ones in the slow run.
BN_MODELS = [("resnet20", False), ("plain20", False), ("resnet18", True), ("resnet50", True),
             ("vgg11_bn", True), ("googlenet_tv", True), ("plain18", True)]


def _model(name):
    torch.manual_seed(0)
    return randomize_batchnorm(cnnzoo.create_model(name)).eval()


def _close(a, b, rel):
    return (a - b).abs().max().item() <= rel * b.abs().max().item()


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow if slow else ())
                                  for n, slow in BN_MODELS])
def test_fold_batchnorm_is_exact(name):
    model = _model(name)
    batchnorms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    folded, count = fold_batchnorm(model)
    assert batchnorms > 0 and count == batchnorms  # every BatchNorm here follows a convolution
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, *cnnzoo.model_info(name).input_size)
    with torch.no_grad():
        assert _close(folded(x), model(x), 1e-5)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == batchnorms  # original kept


def test_fold_leaves_a_batchnorm_without_convolution():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4))
    randomize_batchnorm(model).eval()
    folded, count = fold_batchnorm(model)
    assert count == 0
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(folded(x), model(x))


RUNTIMES = [pytest.param(r, marks=pytest.mark.slow if r == "compile" else ()) for r in installed_runtimes()]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_installed_runtime_matches_eager(runtime):
    model = _model("resnet20")
    fast = optimize(model, runtime, batch=4)
    assert fast.runtime == runtime and fast.folded == 19
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    assert _close(fast(x), expected, 1e-5)
    assert _close(fast(x[:1]), expected[:1], 1e-5)  # another batch size
    # a size the runtime was not prepared for: built again for it, same numbers
    y = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        assert _close(fast(y), model(y), 1e-5)


def test_auto_picks_an_installed_runtime_and_is_exact():
    model = _model("resnet20")
    fast = optimize(model, "auto", batch=2)
    assert fast.runtime in installed_runtimes() and fast.runtime != "compile"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert _close(fast(x), model(x), 1e-5)


def test_optimized_model_refuses_wrong_shapes_and_training():
    fast = optimize(cnnzoo.create_model("lenet5"), "eager")
    with pytest.raises(InputShapeError, match="1 x 32 x 32"):
        fast(torch.randn(1, 1, 28, 28))
    with pytest.raises(CnnzooError, match="inference only"):
        fast.train()
    fast.eval()  # evaluate() puts models in eval mode: that is fine


def test_missing_runtime_names_the_extra(monkeypatch):
    real = rt.importlib.util.find_spec
    monkeypatch.setattr(rt.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("openvino", "onnxruntime") else real(name, *a))
    with pytest.raises(MissingRuntimeError, match=r"pip install 'cnnzoo\[openvino\]'") as e:
        optimize(cnnzoo.create_model("lenet5"), "openvino")
    assert "\n" not in str(e.value)
    with pytest.raises(MissingRuntimeError, match=r"cnnzoo\[onnx\]"):
        optimize(cnnzoo.create_model("lenet5"), "onnxruntime")
    assert installed_runtimes() == ["eager", "compile"]
    assert optimize(cnnzoo.create_model("lenet5"), "auto").runtime == "eager"


def test_bad_runtime_and_dtype():
    with pytest.raises(OptionError, match="onnxruntime"):
        optimize(cnnzoo.create_model("lenet5"), "tensorrt")
    with pytest.raises(OptionError, match="float32"):
        optimize(cnnzoo.create_model("lenet5"), "eager", dtype="int8")


def test_bf16_refused_without_native_support(monkeypatch):
    monkeypatch.setattr(rt, "native_bf16", lambda: False)
    with pytest.raises(OptionError, match="native bf16"):
        optimize(cnnzoo.create_model("lenet5"), "eager", dtype="bfloat16")


@pytest.mark.skipif(not rt.native_bf16(), reason="this CPU has no native bf16")
def test_bf16_on_real_images_agrees_with_fp32():
    from cnnzoo.export.bench import real_images
    from cnnzoo.export.source import load_source

    source = load_source("resnet20")
    x = real_images(source, 64)
    fp32 = optimize(source.model, "eager")(x)
    bf16 = optimize(source.model, "eager", dtype="bfloat16")(x)
    agreement = (fp32.argmax(1) == bf16.argmax(1)).float().mean().item()
    assert agreement >= 0.8  # random weights: close logits can swap; trained runs agree more
    with pytest.raises(OptionError, match="ONNX Runtime"):
        optimize(source.model, "onnxruntime", dtype="bfloat16")


def test_a_runtime_that_cannot_convert_the_model_drops_out_of_auto(monkeypatch):
    """A converter failing on one op (OpenVINO on LeNet-5's index_put, say) must not break the
    fast path: `auto` keeps the runtimes that can run the model; naming it is one line."""
    def broken(model, dtype, example):
        raise RuntimeError("cannot convert aten::index_put\nsecond line of a long report")

    monkeypatch.setitem(rt._BUILDERS, "onnxruntime", broken)
    model = cnnzoo.create_model("lenet5").eval()
    fast = optimize(model, "auto")
    assert fast.runtime != "onnxruntime"
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-5, atol=1e-4)
    with pytest.raises(CnnzooError, match="onnxruntime cannot run this model") as e:
        optimize(model, "onnxruntime")
    assert "\n" not in str(e.value)


def installed_runtimes_without_compile() -> list[str]:
    return [r for r in installed_runtimes() if r != "compile"]  # compile: minutes to build


@pytest.fixture(scope="module")
def grey_run(tmp_path_factory):
    """A resnet20 run on grey images at 40x40: channels and size both differ from the registry's
    3x32x32, as after `cnnzoo train resnet20 --dataset fashion-mnist --input 40`."""
    from cnnzoo.inference.pipeline import InputPipeline
    from cnnzoo.train.checkpoint import write_checkpoint

    root = tmp_path_factory.mktemp("grey")
    torch.manual_seed(0)
    model = randomize_batchnorm(cnnzoo.create_model("resnet20", in_channels=1))
    pipeline = InputPipeline(1, (40, 40), (28, 28), "resize", (0.2860,), (0.3530,), "standardize",
                             tuple(f"c{i}" for i in range(10)))
    meta = {"model": "resnet20", "model_options": {}, "num_classes": 10, "in_channels": 1,
            "dataset": "sample", "pipeline": pipeline.to_meta(), "epoch": 1}
    write_checkpoint(root / "run" / "checkpoints" / "last", model.state_dict(), meta)
    return root / "run"


@pytest.mark.parametrize("runtime", ["auto", *installed_runtimes_without_compile()])
def test_predict_and_eval_fast_use_the_runs_own_input(grey_run, runtime, tmp_path):
    from PIL import Image

    from cnnzoo.data import load_dataset
    from cnnzoo.inference.evaluate import evaluate
    from cnnzoo.inference.predict import predict

    images = load_dataset("sample", "test").images[:3, 0].numpy()
    files = []
    for i, pixels in enumerate(images):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(pixels).save(files[-1])
    plain, fast = predict(grey_run, files, top_k=3), predict(grey_run, files, top_k=3, runtime=runtime)
    for a, b in zip(plain, fast):
        assert [t["index"] for t in a["top"]] == [t["index"] for t in b["top"]]
        assert [t["probability"] for t in a["top"]] == pytest.approx([t["probability"] for t in b["top"]],
                                                                     abs=1e-4)
    kwargs = dict(batch_size=64, progress=False, confusion_png=tmp_path / "confusion.png")
    assert evaluate(grey_run, runtime=runtime, **kwargs)["top1"] == pytest.approx(
        evaluate(grey_run, **kwargs)["top1"], abs=0.5)  # a near tie may flip one image


def test_prepared_runtimes_are_remembered_between_runs(tmp_path, monkeypatch):
    """`auto` keeps its choice and the converted network in the cache: the next optimize() of the
    same network builds only the chosen runtime, from the cached file, with the same outputs."""
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path))
    model = randomize_batchnorm(cnnzoo.create_model("resnet20")).eval()
    x = torch.randn(3, 3, 32, 32)
    first = optimize(model, "auto", batch=2)
    files = sorted(p.name for p in (tmp_path / "fast").iterdir())
    assert any(f.endswith("-choice.json") for f in files)
    if "onnxruntime" in installed_runtimes():
        assert any(f.endswith(".onnx") for f in files)
    if "openvino" in installed_runtimes():
        assert any(f.endswith(".xml") for f in files) and any(f.endswith(".bin") for f in files)
    assert not [f for f in files if ".tmp-" in f]

    built = []
    for name, builder in list(rt._BUILDERS.items()):
        def spy(m, dtype, example, name=name, builder=builder):
            built.append(name)
            return builder(m, dtype, example)
        monkeypatch.setitem(rt._BUILDERS, name, spy)
    monkeypatch.setattr(rt, "onnx_bytes", lambda *a, **k: pytest.fail("exported again"))
    monkeypatch.setattr(rt, "openvino_converted", lambda *a, **k: pytest.fail("converted again"))
    second = optimize(model, "auto", batch=2)
    assert built == [first.runtime] and second.runtime == first.runtime
    with torch.no_grad():
        torch.testing.assert_close(second(x), first(x), rtol=0, atol=0)


def test_a_damaged_cache_is_rebuilt_and_an_unwritable_one_skipped(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path))
    model = cnnzoo.create_model("lenet5_modern").eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        expected = model(x)
    optimize(model, "onnxruntime")
    for f in (tmp_path / "fast").glob("*.onnx"):
        f.write_bytes(b"not an onnx file")
    with torch.no_grad():
        torch.testing.assert_close(optimize(model, "onnxruntime")(x), expected, rtol=1e-5, atol=1e-5)
    assert all(f.read_bytes() != b"not an onnx file" for f in (tmp_path / "fast").glob("*.onnx"))

    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("CNNZOO_CACHE", str(blocked))
    with torch.no_grad():
        torch.testing.assert_close(optimize(model, "onnxruntime")(x), expected, rtol=1e-5, atol=1e-5)
    monkeypatch.setenv("CNNZOO_CACHE", "off")
    optimize(model, "onnxruntime")
    assert blocked.read_text() == "a file where the cache folder would go"
