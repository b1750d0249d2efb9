"""Start-up (issue #14): help, list and version need no tensors and must not import torch; the
torch-free catalog that `cnnzoo list` reads must equal the live registry; `import cnnzoo` is lazy."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import cnnzoo
from cnnzoo import cli
from cnnzoo.cli import models

HEAVY = ("torch", "numpy", "matplotlib")
NO_TORCH = ("import sys; {code}; "
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}); assert not bad, bad[:5]")


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("code", [
    "import cnnzoo", "import cnnzoo.cli", "import cnnzoo; cnnzoo.__version__",
    "from cnnzoo.cli import main; main(['list'])",
    "from cnnzoo.cli import main; main(['list', 'vgg*', '--format', 'json'])",
    "from cnnzoo.cli import main; main([])",
    "from cnnzoo.cli import main; main(['list', 'resnet20', '--options'])",
    "from cnnzoo.cli import main; main(['list', 'lenet5', '--options', '--format', 'json'])",
    "from cnnzoo.cli import main; main(['visualize'])",
])
def test_no_torch_on_paths_that_need_no_tensors(code):
    result = python(NO_TORCH.format(code=code))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["train", "--lr", "nan"]] + [
    [command, "--help"] for command in ("list", "summary", "compare", "train", "eval", "predict",
                                        "visualize", "claims", "export", "bench", "completion")])
def test_no_torch_for_help_version_and_refused_flags(argv):
    # SystemExit from argparse ends these; check sys.modules on the way out
    code = ("import sys, atexit\n"
            "atexit.register(lambda: print('TORCH' if 'torch' in sys.modules else 'NO-TORCH'))\n"
            f"from cnnzoo.cli import main; main({argv!r})")
    result = python(code)
    assert "NO-TORCH" in result.stdout, (result.stdout[-300:], result.stderr)
    # the atexit line is printed after a crash too: the help (or refusal) itself must not crash
    assert "Traceback" not in result.stderr, result.stderr[-500:]


def test_catalog_equals_the_registry():
    live = models.catalog_from_registry()
    stored = json.loads(models.CATALOG.read_text())
    assert stored == json.loads(json.dumps(live)), (
        "src/cnnzoo/catalog.json is out of date: run "
        "`.venv/bin/python -c 'from cnnzoo.cli.models import write_catalog; write_catalog()'`")


def test_bare_cnnzoo_prints_help_and_exits_0(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "usage: cnnzoo" in out and "examples:" in out and "train" in out


def test_version_is_defined_once(capsys):
    from cnnzoo._version import __version__

    assert cnnzoo.__version__ == __version__
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"cnnzoo {__version__}"


def test_train_help_shows_where_defaults_come_from(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    from cnnzoo.recipes import RECIPES

    assert "recipe" in out and all(name in out for name in RECIPES)
    assert "(default: 0)" in out  # --seed's default is shown
    # which models train with which recipe, and the embedded sample's values (issue #14's audit:
    # `cnnzoo train lenet5` runs lenet_rbf's lr 0.01 for 15 epochs on the sample)
    recipes = out[out.index("recipes:"):]
    assert "lenet_rbf: lenet5," in recipes and "100 (15)" in recipes and "0.01" in recipes
    assert "resnet20" in recipes.split("cifar_resnet:")[-1].split("imagenet:")[0]


def test_completion_prints_shell_code(capsys):
    pytest.importorskip("argcomplete")
    assert cli.main(["completion", "bash"]) == 0
    out = capsys.readouterr().out
    assert "cnnzoo" in out and "complete" in out


def test_lazy_public_api_resolves_every_name():
    for name in cnnzoo.__all__:
        assert getattr(cnnzoo, name) is not None, name
    assert "create_model" in dir(cnnzoo)
    with pytest.raises(AttributeError):
        cnnzoo.no_such_name  # noqa: B018


def test_tab_completion_completes_commands_and_flags():
    pytest.importorskip("argcomplete")
    cnnzoo_cmd = f"{sys.executable} -m cnnzoo"

    def complete(line: str) -> list[str]:
        script = (f"COMP_LINE='{line}' COMP_POINT={len(line)} _ARGCOMPLETE=1 "
                  f"_ARGCOMPLETE_IFS=$'\\n' {cnnzoo_cmd} 8>&1 9>/dev/null")
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
        return out.stdout.split()

    assert complete("cnnzoo vis") == ["visualize"]
    assert complete("cnnzoo visualize occlusion --s") == ["--size", "--stride"]
