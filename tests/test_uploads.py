"""Uploads: a private folder per process, nothing planted is ever followed or served."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

import pytest

from lab.uploads import UploadStore, upload_store

DATA = b"the bytes of an uploaded checkpoint"
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def store(tmp_path):
    made = UploadStore(tmp_path)
    yield made
    made.close()


def test_each_store_has_a_private_folder_of_its_own(tmp_path):
    first, second = UploadStore(tmp_path), UploadStore(tmp_path)
    assert first.folder != second.folder
    for store in (first, second):
        mode = store.folder.stat().st_mode
        assert stat.S_ISDIR(mode) and stat.S_IMODE(mode) == 0o700
        assert store.folder.stat().st_uid == os.getuid()
    first.close()
    assert not first.folder.exists() and second.folder.is_dir()


def test_the_process_store_is_made_once_in_the_temp_folder_never_the_shared_one():
    store = upload_store()
    assert store is upload_store()
    assert store.folder.parent == Path(tempfile.gettempdir())
    assert store.folder.name != "cifar-lab-uploads"
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700


def test_an_upload_is_stored_under_its_hash_as_a_private_file(store):
    path = store.save("my model.PTH", DATA)
    assert path == store.folder / f"{DIGEST}.pth"
    assert path.read_bytes() == DATA and not path.is_symlink()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.save("again.pth", DATA) == path
    assert store.save("photo.jpg", DATA).name == f"{DIGEST}.bin"
    assert [p.name for p in store.folder.iterdir() if p.name.startswith(".")] == []


def test_a_planted_link_is_replaced_not_written_through(store, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (store.folder / f"{DIGEST}.pt").symlink_to(victim)
    path = store.save("model.pt", DATA)
    assert victim.read_text() == "precious"
    assert not path.is_symlink() and path.read_bytes() == DATA


def test_a_planted_link_to_a_copy_of_the_upload_is_not_served_either(store, tmp_path):
    """Even a link whose target holds the right bytes is replaced: links are never followed."""
    copy = tmp_path / "copy.pt"
    copy.write_bytes(DATA)
    (store.folder / f"{DIGEST}.pt").symlink_to(copy)
    assert not store.save("model.pt", DATA).is_symlink()


@pytest.mark.parametrize("planted", [b"", b"a planted checkpoint", DATA[:-1]])
def test_a_file_with_other_content_is_never_served(store, planted):
    (store.folder / f"{DIGEST}.pt").write_bytes(planted)
    assert store.save("model.pt", DATA).read_bytes() == DATA


def test_a_stored_file_changed_after_it_was_saved_is_checked_again_before_use(store):
    path = store.save("model.pt", DATA)
    path.write_bytes(b"changed behind the lab's back")
    assert store.save("model.pt", DATA).read_bytes() == DATA


@pytest.mark.slow
def test_a_planted_fifo_or_folder_does_not_hang_or_break_the_store(store):
    os.mkfifo(store.folder / f"{DIGEST}.pt")
    assert store.save("model.pt", DATA).read_bytes() == DATA
    other = b"another upload"
    (store.folder / f"{hashlib.sha256(other).hexdigest()}.pt").mkdir()
    with pytest.raises(OSError):  # a folder cannot be renamed over: refused, nothing served
        store.save("other.pt", other)
