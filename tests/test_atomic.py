"""Tests of mtllaws.atomic."""

import os
import stat

import pytest

from mtllaws.atomic import atomic_path, atomic_write


def test_atomic_write_replaces_whole_file_with_normal_permissions(tmp_path):
    target = tmp_path / "deep" / "f.bin"
    atomic_write(target, lambda fh: fh.write(b"one"))
    atomic_write(target, lambda fh: fh.write(b"two"))
    assert target.read_bytes() == b"two"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_unwritable_folder_names_the_file_and_the_fix(tmp_path):
    # issue 19 item 4 (read-only results/): a file where the folder should be fails
    # also for root, unlike chmod
    (tmp_path / "results").write_text("not a folder")
    target = tmp_path / "results" / "runs.parquet"
    with pytest.raises(OSError) as info:
        with atomic_path(target) as tmp:
            tmp.write_text("x")
    assert f"cannot write {target}" in str(info.value)
    assert "make it writable" in str(info.value)


def test_text_json_and_npy_helpers_write_whole_files(tmp_path):
    import json

    import numpy as np

    from mtllaws.atomic import atomic_save_npy, atomic_write_json, atomic_write_text

    atomic_write_text(tmp_path / "a" / "t.md", "α\n")
    assert (tmp_path / "a" / "t.md").read_bytes() == "α\n".encode()
    atomic_write_json(tmp_path / "v.json", {"w": ["é", 1]})
    assert (tmp_path / "v.json").read_text(encoding="utf-8") == '{"w":["é",1]}'
    assert json.loads((tmp_path / "v.json").read_text(encoding="utf-8")) == {"w": ["é", 1]}
    atomic_save_npy(tmp_path / "x.npy", np.arange(3, dtype=np.int32))
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), [0, 1, 2])
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "t.md", "v.json", "x.npy"]
