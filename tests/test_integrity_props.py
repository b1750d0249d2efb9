"""Property tests over issue 17's surfaces (slow suite): any edit of a sealed meta.json field is
refused, no damage to a runtime-cache entry is ever read back as different bytes, and no link
planted anywhere in a target's folder is written through."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cnnzoo import io  # noqa: E402
from cnnzoo.errors import CheckpointError, CnnzooError  # noqa: E402
from cnnzoo.inference import checkpoint as reader  # noqa: E402

pytestmark = pytest.mark.slow

JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6)
                    | st.floats(allow_nan=False, allow_infinity=False, width=32) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                 max_size=3),
                    max_leaves=6)


@settings(max_examples=30)
@given(data=st.data())
def test_any_edit_of_a_meta_json_field_is_refused(stopped_run, data):
    with tempfile.TemporaryDirectory() as tmp:
        last = Path(tmp) / "last"
        shutil.copytree(Path(stopped_run) / "checkpoints" / "last", last)
        meta = json.loads((last / "meta.json").read_text())
        field = data.draw(st.sampled_from(sorted(k for k in meta if k != "files") + ["new_field"]))
        action = data.draw(st.sampled_from(["replace", "remove"]))
        if action == "remove" and field in meta:
            del meta[field]
        else:
            value = data.draw(JSON.filter(lambda v: v != meta.get(field)))
            meta[field] = value
        (last / "meta.json").write_text(json.dumps(meta))
        with pytest.raises(CheckpointError):
            reader.load_model(last)


@settings(max_examples=60)
@given(content=st.binary(min_size=1, max_size=4096), data=st.data())
def test_a_damaged_cache_entry_is_never_read_as_other_bytes(content, data, monkeypatch_session):
    from cnnzoo.export import cache

    with tempfile.TemporaryDirectory() as tmp:
        monkeypatch_session.setenv("CNNZOO_CACHE", tmp)
        cache.write_bytes("k.onnx", content)
        entry = Path(tmp) / "fast" / "k.onnx"
        damage = data.draw(st.sampled_from(["flip", "truncate", "append", "record", "swap"]))
        if damage == "flip":
            i = data.draw(st.integers(0, len(content) - 1))
            entry.write_bytes(content[:i] + bytes([content[i] ^ 0xFF]) + content[i + 1:])
        elif damage == "truncate":
            entry.write_bytes(content[:data.draw(st.integers(0, len(content) - 1))])
        elif damage == "append":
            entry.write_bytes(content + data.draw(st.binary(min_size=1, max_size=16)))
        elif damage == "record":
            (Path(tmp) / "fast" / "k.onnx.sha256.json").write_text(data.draw(st.text(max_size=40)))
        else:  # another entry and its record copied over this one
            cache.write_bytes("other.onnx", content + b"x")
            shutil.copyfile(Path(tmp) / "fast" / "other.onnx", entry)
            shutil.copyfile(Path(tmp) / "fast" / "other.onnx.sha256.json",
                            Path(tmp) / "fast" / "k.onnx.sha256.json")
        assert cache.read_bytes("k.onnx") in (None, content)


@settings(max_examples=40)
@given(names=st.lists(st.sampled_from(["out.bin", ".out.bin.tmp", "other", ".lock"]), min_size=1,
                      max_size=3, unique=True), dangling=st.booleans())
def test_no_planted_link_is_written_through(names, dangling):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        victim = root / "victim"
        victim.write_text("keep me")
        folder = root / "target"
        folder.mkdir()
        for name in names:
            os.symlink(root / "nowhere" if dangling else victim, folder / name)
        try:
            io.write_bytes(folder / "out.bin", b"data")
        except CnnzooError:
            assert "out.bin" in names  # only a link at the final name itself is refused
        try:
            io.Lock(folder / ".lock").close()
        except OSError:
            assert ".lock" in names
        assert victim.read_text() == "keep me" and not (root / "nowhere").exists()
        leftovers = [p.name for p in folder.iterdir() if ".tmp-" in p.name]
        assert not leftovers


@pytest.fixture(scope="module")
def monkeypatch_session():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
