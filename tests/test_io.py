"""cnnzoo.io, the one write path (issue 17): nothing written through a planted link, a device or
a folder; nothing left behind on failure; output folders only when empty or cnnzoo's own; and
no writer anywhere else in src/cnnzoo (a walk over the source)."""
from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

import cnnzoo
from cnnzoo import io
from cnnzoo.errors import CnnzooError

SRC = Path(cnnzoo.__file__).parent


def one_line(e: BaseException) -> str:
    text = str(e)
    assert text and "\n" not in text, text
    return text


# --- the source walk ---------------------------------------------------------------------------
def _write_mode(call: ast.Call, position: int) -> bool:
    """Whether a call's mode argument (positional `position` or mode=) may open for writing."""
    mode = call.args[position] if len(call.args) > position else next(
        (k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(c in mode.value for c in "wax+")
    return True  # a mode computed at run time: cannot be shown to be read-only


def _module_aliases(tree: ast.Module) -> set[str]:
    """Names bound to cnnzoo's own modules (`from .. import io as safe_io`, `from . import cache`),
    whose write_bytes/write_text are cnnzoo.io's or go through it."""
    return {(a.asname or a.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and node.level > 0 for a in node.names}


def writers(source: str) -> list[tuple[int, str]]:
    """(line, what) for every way of writing a file that bypasses cnnzoo.io."""
    tree = ast.parse(source)
    ours = _module_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("os", "shutil"):
            found += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names
                      if a.name in ("replace", "rename", "renames", "move")]
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id == "open" and _write_mode(node, 1):
            found.append((node.lineno, "open(..., write mode)"))
        if not isinstance(f, ast.Attribute):
            continue
        owner = f.value.id if isinstance(f.value, ast.Name) else None
        if f.attr in ("write_bytes", "write_text") and owner not in ours:
            found.append((node.lineno, f".{f.attr}("))
        elif f.attr == "savefig":
            found.append((node.lineno, ".savefig("))
        elif owner == "os" and f.attr in ("replace", "rename", "renames"):
            found.append((node.lineno, f"os.{f.attr}("))
        elif owner == "os" and f.attr == "fdopen" and _write_mode(node, 1):
            found.append((node.lineno, "os.fdopen(..., write mode)"))
        elif owner == "os" and f.attr == "open" and any(
                isinstance(n, ast.Attribute) and n.attr in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")
                for n in ast.walk(node)):
            found.append((node.lineno, "os.open(..., for writing)"))
        elif owner == "shutil" and f.attr in ("move", "copy", "copy2", "copyfile", "copytree"):
            found.append((node.lineno, f"shutil.{f.attr}("))
        elif f.attr == "open" and owner not in ("os", "tarfile", "Image", "gzip", "zipfile") \
                and _write_mode(node, 0):
            found.append((node.lineno, ".open(..., write mode)"))
    return found


def test_no_writer_outside_io():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "io.py":
            continue
        offenders += [f"{path.relative_to(SRC)}:{line}: {what}"
                      for line, what in writers(path.read_text())]
    assert not offenders, "write through cnnzoo.io instead:\n" + "\n".join(offenders)


@pytest.mark.parametrize("snippet", [
    'open(p, "w")', 'open(p, mode="ab")', 'open(p, m)', 'Path(p).write_text("x")',
    '(out / "a").write_bytes(b"")', 'os.replace(a, b)', 'os.rename(a, b)', 'fig.savefig(buf)',
    'shutil.move(a, b)', 'os.open(p, os.O_WRONLY | os.O_CREAT)', 'p.open("wb")',
    'from os import replace', 'os.fdopen(fd, "wb")'])
def test_the_source_walk_finds_each_kind_of_writer(snippet):
    assert writers(snippet), snippet  # the walk above cannot pass by missing a form


@pytest.mark.parametrize("snippet", [
    'open(p)', 'open(p, "rb")', 'p.open("rb")', 'tarfile.open(p, "r:gz")',
    'os.open(p, os.O_RDONLY)', 'os.fdopen(fd, "rb")', 'from .. import io as safe_io\nsafe_io.write_bytes(p, b"")'])
def test_the_source_walk_lets_reads_through(snippet):
    assert not writers(snippet), snippet


# --- files -------------------------------------------------------------------------------------
def test_write_bytes_replaces_a_regular_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    assert io.write_json(target, {"x": [1, 2]}) == target
    assert target.read_text() == '{\n  "x": [\n    1,\n    2\n  ]\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    with pytest.raises(ValueError):
        io.write_json(target, {"x": float("nan")})  # not JSON: refused before anything is written
    assert "NaN" not in target.read_text() and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("kind", ["symlink", "dangling", "folder", "fifo"])
def test_the_final_name_is_never_written_through(tmp_path, kind):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "out.png"
    if kind == "symlink":
        target.symlink_to(victim)
    elif kind == "dangling":
        target.symlink_to(tmp_path / "elsewhere.txt")
    elif kind == "folder":
        target.mkdir()
    else:
        os.mkfifo(target)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CnnzooError) as e:
        io.write_bytes(target, b"data")
    one_line(e.value)
    assert victim.read_text() == "keep me" and not (tmp_path / "elsewhere.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_link_planted_during_the_write_is_refused_before_the_rename(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "out.bin"
    with pytest.raises(CnnzooError, match="symbolic link") as e:
        with io.atomic_writer(target) as f:
            f.write(b"new")
            target.symlink_to(victim)  # planted while the data is being written
    one_line(e.value)
    assert victim.read_text() == "keep me" and target.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin", "victim.txt"]


def test_a_failed_stream_leaves_nothing(tmp_path):
    target = tmp_path / "download.gz"
    with pytest.raises(RuntimeError):
        with io.atomic_writer(target, suffix=".part") as f:
            f.write(b"half")
            assert list(tmp_path.glob(".download.gz.tmp-*.part"))
            raise RuntimeError("connection lost")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_one_line_and_leaves_the_old_file(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    class Full:
        def __bytes__(self) -> bytes:
            raise OSError(28, "No space left on device")

    with pytest.raises(CnnzooError, match="No space left") as e:
        with io.atomic_writer(target) as f:
            try:
                f.write(bytes(Full()))
            except OSError as err:
                raise io.write_error(target, err) from None
    one_line(e.value)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_save_figure_renders_by_suffix(tmp_path):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    try:
        assert io.save_figure(fig, tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
        assert io.save_figure(fig, tmp_path / "f.svg").read_bytes().lstrip().startswith(b"<?xml")
    finally:
        plt.close(fig)


# --- folders -----------------------------------------------------------------------------------
def test_output_folder_refuses_a_folder_of_someone_elses_files(tmp_path):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "claims.md").write_text("my own notes")
    with pytest.raises(CnnzooError, match="did not write") as e:
        io.output_folder(mine, "claims")
    one_line(e.value)
    assert [p.name for p in mine.iterdir()] == ["claims.md"]
    fresh = io.output_folder(tmp_path / "new" / "report", "claims")
    assert (fresh / ".cnnzoo-claims").is_file()
    (fresh / "claims.md").write_text("cnnzoo's")
    assert io.output_folder(fresh, "claims") == fresh  # its own kind: accepted again
    with pytest.raises(CnnzooError):
        io.output_folder(fresh, "atlas")  # another kind's folder is not the atlas's


def test_output_folder_marker_must_be_a_regular_file(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "claims.md").write_text("mine")
    (folder / ".cnnzoo-claims").symlink_to(tmp_path / "anything")
    with pytest.raises(CnnzooError, match="did not write"):
        io.output_folder(folder, "claims")


def test_replace_folder_swaps_whole_folders_and_recovers(tmp_path):
    final = tmp_path / "last"
    io.replace_folder(final, [("a", b"1"), ("b", b"2")])
    io.replace_folder(final, iter([("a", b"3")]))
    assert sorted(p.name for p in final.iterdir()) == ["a"] and (final / "a").read_bytes() == b"3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    os.rename(final, tmp_path / ".last.old")  # a crash between the two renames
    io.recover_folder(final)
    assert (final / "a").read_bytes() == b"3" and not (tmp_path / ".last.old").exists()

    def failing():
        yield "a", b"4"
        raise OSError(28, "No space left on device")

    with pytest.raises(CnnzooError, match="No space left"):
        io.replace_folder(final, failing())
    assert (final / "a").read_bytes() == b"3" and sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_make_folder_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "tensorboard").write_text("x")
    with pytest.raises(CnnzooError, match="in the way") as e:
        io.make_folder(tmp_path / "tensorboard")
    one_line(e.value)


# --- the lock ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["symlink", "dangling", "hardlink"])
def test_the_lock_never_writes_through_a_link(tmp_path, kind):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    lock = tmp_path / ".lock"
    if kind == "symlink":
        lock.symlink_to(victim)
    elif kind == "dangling":
        lock.symlink_to(tmp_path / "created-elsewhere")
    else:
        os.link(victim, lock)
    with pytest.raises(OSError):
        io.Lock(lock)
    assert victim.read_text() == "keep me" and not (tmp_path / "created-elsewhere").exists()


def test_the_lock_is_exclusive_and_names_its_owner(tmp_path):
    held = io.Lock(tmp_path / ".lock")
    try:
        with pytest.raises(io.LockBusy) as e:
            io.Lock(tmp_path / ".lock")
        assert e.value.owner == str(os.getpid())
    finally:
        held.close()
    io.Lock(tmp_path / ".lock").close()  # released: taken again


# --- reading -----------------------------------------------------------------------------------
def test_read_json_is_bounded_and_one_line(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"a": NaN}')
    with pytest.raises(CnnzooError, match="not valid JSON") as e:
        io.read_json(p)
    one_line(e.value)
    p.write_text('{"a": "' + "x" * 100 + '"}')
    with pytest.raises(CnnzooError, match="larger than") as e:
        io.read_json(p, max_bytes=50)
    assert io.read_json(p)["a"] == "x" * 100
    assert io.sha256_file(p) == io.sha256_bytes(p.read_bytes())
