"""Uploaded files on the server: a private folder per process, no link ever followed, and the
content checked by its hash before every use.

The app keeps an uploaded checkpoint on disk so that ``lab.checkpoint.load_model`` can read it
and a cache can reuse the model loaded from it. A shared, predictable folder
(``/tmp/cifar-lab-uploads``) let another user of the machine plant a link there (an upload then
overwrote a file elsewhere) or a file (served in place of the real upload). Here each process
gets a folder of its own from ``tempfile.mkdtemp`` (a random name, mode 0700), every file is
created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` under a random name and renamed into place, and
a stored file is named after the SHA-256 of its content and hashed again each time it is asked
for: a file that is not exactly the upload is replaced, never used.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from lab.io import atomic_write

# Read and hash stored files in blocks of this many bytes.
CHUNK = 1 << 20
CHECKPOINT_SUFFIXES = (".pt", ".pth")


class UploadStore:
    """A private folder of uploaded files, named by content."""

    def __init__(self, parent: str | os.PathLike | None = None) -> None:
        # mkdtemp makes the folder with mode 0700 under a name nobody can guess.
        self.folder = Path(tempfile.mkdtemp(prefix="cifar-lab-uploads-", dir=parent))

    def save(self, name: str, data: bytes) -> Path:
        """The path of a file in this store that holds exactly ``data``: the stored one when
        its content still hashes right, else a new one. Call it each time an upload is used;
        the suffix of ``name`` is kept when it is ``.pt`` or ``.pth``."""
        digest = hashlib.sha256(data).hexdigest()
        suffix = Path(name).suffix.lower()
        path = self.folder / f"{digest}{suffix if suffix in CHECKPOINT_SUFFIXES else '.bin'}"
        if _sha256_of_regular_file(path) == digest:
            return path
        # The lab's one atomic writer: a 0600 temp file made with O_EXCL beside ``path`` (so
        # nothing planted is written through), then a rename that replaces whatever is at
        # ``path`` (a planted link included), never its target.
        atomic_write(path, lambda handle: handle.write(data))
        return path

    def close(self) -> None:
        """Remove the folder and everything in it."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _sha256_of_regular_file(path: Path) -> str | None:
    """The SHA-256 of ``path`` when it is a regular file (not a link); None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # missing, or a link (ELOOP); O_NONBLOCK: a planted FIFO cannot hang it
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        digest = hashlib.sha256()
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def upload_store() -> UploadStore:
    """This process's store, made on first use and removed when the process exits."""
    store = UploadStore()
    atexit.register(store.close)
    return store
