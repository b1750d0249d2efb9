"""Property-based: malformed meta.json, state.json and config.json documents are either accepted
or refused with one CnnzooError line, never another exception. Few examples by default; the
slow run generates more than 10^4 documents in all."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnzoo
from cnnzoo.errors import CnnzooError
from cnnzoo.inference import checkpoint as reader
from cnnzoo.inference.schema import validate_meta
from cnnzoo.limits import MAX_CLASSES
from cnnzoo.train import checkpoint as ckpt
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.state import TrainState, check_tensors

FEW, MANY = 60, 4000

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def mutated(base: dict, keys: list[str]):
    """base with some fields replaced by arbitrary JSON, removed, or added."""
    return st.tuples(
        st.dictionaries(st.sampled_from(keys), json_values, max_size=4),
        st.lists(st.sampled_from(keys), max_size=2),
        st.dictionaries(st.text(max_size=6), json_values, max_size=1),
    ).map(lambda t: {**{k: v for k, v in base.items() if k not in t[1]}, **t[0], **t[2]})


def _json_round_trip(doc):
    # what a file on disk can hold (NaN becomes the NaN literal, refused by our reader)
    return json.loads(json.dumps(doc))


def refused_cleanly(call) -> None:
    """The call must refuse its input with one CnnzooError line: an accepted input fails."""
    try:
        call()
    except CnnzooError as e:
        assert str(e) and "\n" not in str(e), repr(e)
    else:
        pytest.fail("the input was accepted: expected a one-line CnnzooError")


def handled_cleanly(call, outcomes: list[str]) -> None:
    """A generated document may still be a valid one (a field replaced by an allowed value), so it
    is either accepted (and used, as a reader would) or refused with one CnnzooError line; any
    other exception, or a message of several lines, fails. The outcome is appended to `outcomes`,
    so that a run can check it refused something (a reader that accepts everything fails there)."""
    try:
        call()
    except CnnzooError as e:
        assert str(e) and "\n" not in str(e), repr(e)
        outcomes.append("refused")
    else:
        outcomes.append("accepted")


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "run"
    cnnzoo.train("lenet5_modern", out=str(out), epochs=2, stop_after=1, batch_size=256, quiet=True,
                 progress=False)
    return out


@pytest.fixture(scope="module")
def docs(real_run):
    last = real_run / "checkpoints" / "last"
    return (json.loads((last / "meta.json").read_text()), json.loads((last / "state.json").read_text()),
            json.loads((real_run / "config.json").read_text()))


def _check_meta(doc) -> None:
    meta = validate_meta(_json_round_trip(doc), "meta.json")
    reader.build_model(meta)  # what a reader does next with an accepted document


def _check_state(doc, optimizer) -> None:
    state = TrainState.from_json(_json_round_trip(doc), "state.json")
    state.check_run("state.json", epochs=2, steps_per_epoch=19)
    state.check_optimizer("state.json", optimizer)
    ckpt.unpack_optimizer(optimizer, {}, state.optimizer)


def _check_config(doc) -> None:
    TrainConfig.from_json(_json_round_trip(doc), "config.json").resolved()


def _optimizer():
    model = cnnzoo.create_model("lenet5_modern")
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


META_KEYS = ["format", "version", "model", "model_options", "num_classes", "in_channels", "classes",
             "epoch", "image_shape", "pipeline", "normalization", "files", "metrics"]
STATE_KEYS = ["epoch", "step_in_epoch", "global_step", "world_size", "history", "elapsed",
              "train_time", "train_images", "partial_time", "optimizer", "scaler"]
CONFIG_KEYS = ["model", "dataset", "data_dir", "model_options", "epochs", "batch_size", "optimizer",
               "lr", "momentum", "weight_decay", "schedule", "warmup_epochs", "label_smoothing",
               "augment", "image_size", "seed", "eval_every", "keep_epochs", "threads", "amp"]


def _run(examples: int, docs) -> None:
    meta, state, config = docs
    optimizer = _optimizer()
    common = dict(max_examples=examples, suppress_health_check=list(HealthCheck), deadline=None)

    outcomes: dict[str, list[str]] = {"meta": [], "state": [], "config": []}

    @settings(**common)
    @given(mutated(meta, META_KEYS))
    def fuzz_meta(doc):
        handled_cleanly(lambda: _check_meta(doc), outcomes["meta"])

    @settings(**common)
    @given(mutated(state, STATE_KEYS))
    def fuzz_state(doc):
        handled_cleanly(lambda: _check_state(doc, optimizer), outcomes["state"])

    @settings(**common)
    @given(mutated(config, CONFIG_KEYS))
    def fuzz_config(doc):
        handled_cleanly(lambda: _check_config(doc), outcomes["config"])

    fuzz_meta()
    fuzz_state()
    fuzz_config()
    for kind, seen in outcomes.items():  # the readers refused some of what they were given
        assert "refused" in seen, f"every generated {kind} document was accepted"


def test_malformed_documents_are_refused_in_one_line(docs):
    _run(FEW, docs)


@pytest.mark.slow
def test_malformed_documents_are_refused_in_one_line_many(docs):
    _run(MANY, docs)  # 3 x 4,000 = 12,000 generated documents


def test_the_real_documents_are_accepted(docs):
    meta, state, config = docs
    _check_meta(meta)
    _check_state(state, _optimizer())
    _check_config(config)


@settings(max_examples=FEW, deadline=None)
@given(st.dictionaries(st.sampled_from(["optimizer.0.momentum_buffer", "optimizer.99.x", "rng.cpu.rank0",
                                        "augment.rank0", "meter.rank0", "rng.cpu.rank7", "other"]),
                       st.tuples(st.sampled_from([torch.uint8, torch.float32, torch.float64]),
                                 st.lists(st.integers(0, 6), max_size=3)), max_size=4))
def test_malformed_state_tensors_are_refused_in_one_line(spec):
    tensors = {k: torch.zeros(shape, dtype=dtype) for k, (dtype, shape) in spec.items()}
    handled_cleanly(lambda: check_tensors(tensors, "state.safetensors", optimizer=_optimizer(),
                                          world_size=1, global_step=5), [])


def test_documents_broken_on_purpose_are_refused(docs):
    """refused_cleanly's own cases: each document is invalid by construction, so acceptance fails."""
    meta, state, config = docs
    refused_cleanly(lambda: _check_meta({**meta, "num_classes": MAX_CLASSES + 1}))
    refused_cleanly(lambda: _check_meta({**meta, "format": "not-cnnzoo"}))
    refused_cleanly(lambda: _check_state({**state, "epoch": -5}, _optimizer()))
    refused_cleanly(lambda: _check_config({**config, "lr": -1.0}))
    refused_cleanly(lambda: _check_config({**config, "not_a_field": 1}))
    refused_cleanly(lambda: check_tensors({"other": torch.zeros(2)}, "state.safetensors",
                                          optimizer=_optimizer(), world_size=1, global_step=5))
