"""The inference room (cnnzoo.inference): it needs nothing of the training engine, and loading
data for a run changes nothing of the run."""
from __future__ import annotations

from pathlib import Path

import torch

import cnnzoo
from architecture_measure import measure_module as _measure
from cnnzoo.inference.run import load_run

SRC = Path(cnnzoo.__file__).parent


def training_imports(graph: dict[str, set[str]]) -> list[str]:
    """'inference.X -> train.Y' for every import of the training engine by the inference room."""
    return sorted(f"{a} -> {b}" for a, targets in graph.items() if a.startswith("cnnzoo.inference")
                  for b in targets if b == "cnnzoo.train" or b.startswith("cnnzoo.train."))


def test_inference_imports_nothing_of_the_training_engine():
    """No module of cnnzoo.inference imports cnnzoo.train or a module of it, imports inside
    functions included (the graph is read with ast, not by importing)."""
    graph = _measure().import_graph(SRC)
    assert "cnnzoo.inference.checkpoint" in graph["cnnzoo.inference.run"]  # the graph is read
    assert training_imports(graph) == []


def test_the_training_import_check_can_fail(tmp_path):
    """A function-level import of the engine in an inference module is reported."""
    pkg = tmp_path / "cnnzoo"
    (pkg / "inference").mkdir(parents=True)
    (pkg / "train").mkdir()
    for init in (pkg, pkg / "inference", pkg / "train"):
        (init / "__init__.py").write_text("")
    (pkg / "train" / "loop.py").write_text("")
    (pkg / "inference" / "run.py").write_text("def f():\n    from ..train.loop import g\n")
    assert training_imports(_measure().import_graph(pkg)) == [  # the package's __init__ runs too
        "cnnzoo.inference.run -> cnnzoo.train", "cnnzoo.inference.run -> cnnzoo.train.loop"]


def test_load_data_returns_a_new_run_for_random_weights_and_leaves_the_run_alone():
    """Random weights: load_data builds the pipeline from the data set (and a model for its
    channels) in a new LoadedRun; the run it was called on keeps its own model and pipeline."""
    run = load_run(model="resnet20")  # 3 channels; the sample is grey
    model, pipeline = run.model, run.pipeline
    data, fed = run.load_data("sample", "test")
    assert run.model is model and run.pipeline is pipeline
    assert fed is not run and fed.channels == data.channels == 1 and pipeline.channels == 3
    assert fed.pipeline.scaling == "standardize" and pipeline.scaling == "default"
    with torch.no_grad():
        assert fed.model(fed.pipeline(data.images[:2])).shape == (2, 10)


def test_the_public_names_reach_the_inference_room():
    """cnnzoo's and cnnzoo.visualize's lazy names resolve to the one definition of each."""
    from cnnzoo import inference, visualize
    from cnnzoo.inference import evaluate, pipeline, predict, run

    assert cnnzoo.load_run is run.load_run is visualize.load_run is inference.load_run
    assert cnnzoo.load_image is run.load_image is visualize.load_image
    assert cnnzoo.InputPipeline is pipeline.InputPipeline and visualize.ModelImage is pipeline.ModelImage
    assert cnnzoo.evaluate is evaluate.evaluate and cnnzoo.predict is predict.predict
    assert cnnzoo.load_checkpoint is inference.load_model
