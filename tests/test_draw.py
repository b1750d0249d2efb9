"""cnnzoo draw: every network drawn, every label read from the summary (issue #20).

The expected texts are computed here from `cnnzoo.summary` on its own, not from the drawing's
structure, so a label the drawing invents or drops fails the test.
"""
from __future__ import annotations

import html
import re

import pytest

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.registry import builder_options
from cnnzoo.visualize.draw import STYLES, drawing, styles_for
from cnnzoo.visualize.draw.canvas import figure_bytes, rendered

MODELS = cnnzoo.list_models()
SHAPE = re.compile(r"\b(\d+)@(\d+)x(\d+)\b")


def svg_texts(svg: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def shape(s) -> str:
    return f"{s[0]}@{s[1]}x{s[2]}" if len(s) == 3 else "x".join(map(str, s))


def _expected(s, style: str) -> set[str]:
    """Texts the drawing must hold, from the summary alone."""
    want = {f"{s.total_params:,} parameters"}
    for r in s.layers:
        weighted = r.type in ("Conv2d", "PartialConv2d", "Linear", "MaxPool2d", "AvgPool2d",
                              "Subsampling", "RBFOutput")
        if style == "blocks":
            if "." not in r.name or r.inputs:  # the top-level layers and every join
                want.add(shape(r.output_shape))
            if r.type == "Conv2d":
                want.add(f"{r.kernel[0]}x{r.kernel[1]} conv, {r.output_shape[0]}")
        elif weighted:
            want.add(shape(r.output_shape))
        if r.type == "Linear" and style != "lenet":  # LeNet-5's figure says "Full connection"
            want.add(f"fc {r.output_shape[-1]}")
    return want


CHAIN_FAMILIES = ("lenet", "alexnet", "zfnet", "vgg")
CASES = [(n, st) for n in MODELS for st in (STYLES if cnnzoo.model_info(n).family in CHAIN_FAMILIES
                                            or n.startswith("plain") else ("blocks",))]


@pytest.mark.parametrize("name,style", [
    pytest.param(n, st, marks=pytest.mark.slow) if n == "resnet1202" else (n, st) for n, st in CASES])
def test_the_svg_text_is_the_summary(name, style):
    s = cnnzoo.summary(name)
    canvas, net, style = drawing(name, style)
    svg = figure_bytes(rendered(canvas), "svg").decode()
    texts = svg_texts(svg)
    joined = "\n".join(texts)
    missing = [w for w in _expected(s, style) if w not in joined]
    assert not missing, f"{name} ({style}): {missing}"
    known = {shape(r.output_shape) for r in s.layers if r.output_shape and len(r.output_shape) == 3}
    known |= {shape(r.input_shape) for r in s.layers if r.input_shape and len(r.input_shape) == 3}
    invented = {m.group(0) for m in SHAPE.finditer(joined)} - known
    assert not invented, f"{name}: shapes not in the summary: {invented}"
    assert canvas.overlaps() == [], f"{name} ({style})"


def test_the_paper_figures_shapes():
    svg = cnnzoo.draw("lenet5", format="svg")
    texts = svg_texts(svg)
    for label in ("C1: feature maps", "6@28x28", "S2: feature maps", "6@14x14", "16@10x10",
                  "16@5x5", "Gaussian connections", "Convolutions (partial table)"):
        assert any(label in t for t in texts), label
    g = "\n".join(svg_texts(cnnzoo.draw("googlenet", format="svg")))
    assert "aux1: training only" in g and "aux2: training only" in g
    assert "Inception, with dimension reductions" in g and "filter concatenation" in g
    naive = "\n".join(svg_texts(cnnzoo.draw("googlenet", options={"inception": "naive"}, format="svg")))
    assert "Inception, naive version" in naive and "Inception, with dimension" not in naive
    a = "\n".join(svg_texts(cnnzoo.draw("alexnet", format="svg")))
    assert "2 towers of 48" in a and "2 towers of 128" in a
    one = "\n".join(svg_texts(cnnzoo.draw("alexnet", options={"towers": 1}, format="svg")))
    assert "towers of" not in one


@pytest.mark.parametrize("option,marks", [
    ("A", ["option A: zero-padding", "identity"]),
    ("B", ["projection", "identity"]),
    ("C", ["projection"]),
    ("none", []),
])
def test_each_shortcut_option_is_drawn_its_own_way(option, marks):
    texts = "\n".join(svg_texts(cnnzoo.draw("resnet34", options={"shortcut": option}, format="svg")))
    for m in marks:
        assert m in texts
    if option == "C":
        assert "identity" not in texts
    if option == "none":
        assert "residual block" not in texts and "+" not in svg_texts(
            cnnzoo.draw("resnet34", options={"shortcut": option}, format="svg"))


def _choices(name: str) -> list[tuple[str, object]]:
    """Every value of each Choice or Flag option of a model (numbers: a dropout rate)."""
    from cnnzoo.options import Choice, Flag
    from cnnzoo.registry import option_specs

    out: list[tuple[str, object]] = []
    for key, spec in option_specs(name).items():
        if isinstance(spec, Choice):
            out += [(key, v) for v in spec.values]
        elif isinstance(spec, Flag):
            out += [(key, True), (key, False)]
    return out


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "zfnet", "vgg11", "googlenet",
                                  "googlenet_tv", "resnet18", "resnet50", "resnet20"])
def test_every_option_that_changes_the_network_changes_the_drawing(name):
    """An option whose summary differs (types, shapes, kernels, parameters) must draw differently."""
    def signature(s):
        return [(r.name, r.type, r.kernel, r.stride, r.output_shape, r.params) for r in s.layers]

    base_s = cnnzoo.summary(name)
    base = [t for t in drawing(name)[0].texts]
    defaults = builder_options(name)
    tried = 0
    for key, value in _choices(name):
        if str(defaults.get(key)).lower() == str(value).lower():
            continue
        s = cnnzoo.summary(name, options={key: value})
        if signature(s) == signature(base_s):
            continue  # init, dropout rate: the same architecture
        tried += 1
        other = [t for t in drawing(name, options={key: value})[0].texts]
        strip = [t for t in other if not t[2].startswith(name)]  # the title names the option
        assert strip != [t for t in base if not t[2].startswith(name)], f"{name} {key}={value}"
    assert tried or name in ("googlenet_tv",)


def test_styles_and_errors(tmp_path, capsys):
    net = drawing("vgg11")[1]
    assert styles_for(net) == STYLES
    assert styles_for(drawing("resnet18")[1]) == ("blocks",)
    for style in STYLES:
        assert drawing("lenet5", style)[2] == style
    assert main(["draw", "resnet18", "--style", "boxes", "--out", str(tmp_path / "r.svg")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--style blocks" in err and not (tmp_path / "r.svg").exists()
    assert main(["draw", "lenet5", "--out", str(tmp_path / "l.txt")]) == 1
    for ext in ("svg", "png", "pdf"):
        assert main(["draw", "lenet5", "--out", str(tmp_path / f"l.{ext}")]) == 0
    assert (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "l.pdf").read_bytes()[:4] == b"%PDF"
    assert "6@28x28" in (tmp_path / "l.svg").read_text()


def test_done_when_commands(tmp_path):
    for argv, want in ((["lenet5"], ["6@28x28", "16@10x10"]),
                       (["googlenet"], ["aux1", "aux2", "1024@7x7"]),
                       (["resnet34", "--option", "shortcut=A"], ["option A", "512@7x7"])):
        out = tmp_path / f"{argv[0]}.svg"
        assert main(["draw", *argv, "--out", str(out)]) == 0
        text = "\n".join(svg_texts(out.read_text()))
        assert all(w in text for w in want), (argv, want)


STEP_TYPES = {"Conv2d", "PartialConv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
              "Subsampling", "Linear", "RBFOutput"}
CHAINS = ["lenet5", "lenet5_modern", "alexnet", "alexnet_tv", "zfnet", "vgg16", "vgg19_bn",
          "plain20", "plain34"]


@pytest.mark.parametrize("name", CHAINS)
def test_a_chain_draws_every_layer_once_or_inside_a_repeat(name):
    """Every conv, pooling and fc row of the summary is on the boxes drawing: by its name, or
    counted in an 'a ... b (x n)' label."""
    s = cnnzoo.summary(name)
    steps = [r.name for r in s.layers if r.type in STEP_TYPES]
    texts = svg_texts(cnnzoo.draw(name, "boxes", format="svg"))
    drawn = sum(1 for t in texts if t in steps)
    for t in texts:
        m = re.fullmatch(r"(\S+) \.\.\. (\S+) \(x (\d+)\)", t)
        if m:
            first, last, n = m.group(1), m.group(2), int(m.group(3))
            assert steps.index(last) - steps.index(first) + 1 == n, t
            drawn += n
    assert drawn == len(steps), (name, drawn, len(steps))


def test_a_run_folder_draws_its_trained_network(stopped_run, tmp_path, capsys):
    out = tmp_path / "run.svg"
    assert main(["draw", str(stopped_run), "--out", str(out)]) == 0
    text = "\n".join(svg_texts(out.read_text()))
    assert "lenet5_modern" in text and "6@28x28" in text and "Max pooling" in text
    assert main(["draw", str(stopped_run), "--option", "pooling=avg"]) == 1
    assert "--option goes with a model NAME" in capsys.readouterr().err
