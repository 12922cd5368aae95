"""One writer per run: a lock file in the run folder, held by the process that trains it.

``RunLock`` takes ``run.lock`` in a run folder with ``fcntl.flock``, which the kernel releases
when its process ends, however it ends: a lock left behind by a killed process is stale, and
the next writer takes it over. The file names the holder's process id and host, so a second
writer is refused at once with a message that says who holds the run. The file is removed
when the run is released; the holder re-checks after locking that the file it locked is still
the one in the folder, so a release and a new writer can never both believe they hold it.
The lock file is opened without blocking and without following a link, and must be a regular
file: a FIFO planted as ``run.lock`` is refused in one line instead of hanging its opener.

Before its run starts, a new run folder is held by the process that made it (``hold_new``): a
``flock`` on the folder itself, let go when the run takes its lock. A run waiting in a job queue
keeps its empty folder that way, while the empty folder of a process killed before its run
started is free again for that name (``lab.runs.create_run_dir`` reuses it).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import stat
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.errors import LabError

LOCK = "run.lock"
# A busy lock is tried again this many times, this far apart, before the writer is refused.
LOOK_RETRIES = 3
LOOK_WAIT_S = 0.05


@dataclass(frozen=True)
class Holder:
    """Who holds a run: a process on a host, since a time (seconds since the epoch)."""

    pid: int
    host: str
    since: float

    def describe(self) -> str:
        if self == UNKNOWN:
            return "another process"
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"process {self.pid} on {self.host} (since {started})"


# The holder of a lock whose file does not name it yet (it is being written).
UNKNOWN = Holder(0, "", 0.0)


# What a lock path that is not a regular file is, by the type bits of its mode.
KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFDIR: "a folder",
    stat.S_IFLNK: "a link",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}


def _not_regular(path: Path, mode: int) -> LabError:
    kind = KINDS.get(stat.S_IFMT(mode), "not a file")
    return LabError(
        f"{path} is {kind}, not a regular file: a run's lock is a file the lab writes; remove "
        "it, then try again"
    )


def _open_lock(path: Path, flags: int) -> int:
    """A descriptor of the lock file at ``path``, which must be a regular file. Never blocks
    (O_NONBLOCK: opening a FIFO would wait for a writer) and never follows a link."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as error:
        # a link (ELOOP), a folder opened for writing (EISDIR), a socket (ENXIO)
        if error.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise
        raise _not_regular(path, os.lstat(path).st_mode) from error
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_regular(path, mode)
    return fd


def _read_holder(fd: int) -> Holder | None:
    """The holder a lock file names; None when it names none (being written, or damaged)."""
    try:
        values = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return Holder(int(values["pid"]), str(values["host"]), float(values["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _open_locked(path: Path) -> int | None:
    """A descriptor of the lock file at ``path``, flocked; None while another process holds
    it. Retries when the file it locked was removed or replaced meanwhile, and briefly when
    the lock is busy: ``holder`` takes it shared for an instant to look."""
    for attempt in range(LOOK_RETRIES + 1):
        fd = _open_lock(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if attempt == LOOK_RETRIES:
                return None
            time.sleep(LOOK_WAIT_S)
            continue
        try:
            current = os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)  # released and removed under us: lock the file now in the folder
    return None


# The new run folders this process holds until their runs start, by real path: an open
# descriptor of each, flocked. The kernel lets go of them when the process ends, however it ends.
_held: dict[str, int] = {}
_held_guard = threading.Lock()


def hold_new(run_dir: Path) -> bool:
    """Hold ``run_dir``, a folder made for a run that has not started, for this process until
    the run takes its lock (``RunLock``) or ``let_go`` is called; False when another process,
    or another run of this one, holds it. ``OSError`` where folders cannot be flocked."""
    fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    except OSError:
        os.close(fd)
        raise
    with _held_guard:
        removed = _held.pop(os.path.realpath(run_dir), None)  # an earlier folder of that name
        if removed is not None:
            os.close(removed)
        _held[os.path.realpath(run_dir)] = fd
    return True


def let_go(run_dir: Path) -> None:
    """Stop holding ``run_dir`` (nothing happens when this process does not hold it)."""
    with _held_guard:
        fd = _held.pop(os.path.realpath(run_dir), None)
    if fd is not None:
        os.close(fd)


def _refusal(run_dir: Path, found: Holder | None) -> LabError:
    return LabError(
        f"run {run_dir.name} is being trained by {(found or UNKNOWN).describe()}: one "
        "process writes a run at a time; wait for it to end, or stop it first"
    )


def holder(run_dir: Path) -> Holder | None:
    """Who is training ``run_dir`` right now; None when nobody is (a stale lock file left by
    a killed process counts as nobody)."""
    path = Path(run_dir) / LOCK
    try:
        fd = _open_lock(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(fd) or UNKNOWN
    finally:
        os.close(fd)
    return None


def check_free(run_dir: Path) -> None:
    """Refuse at once, naming the holder, when another process trains ``run_dir``."""
    found = holder(run_dir)
    if found is not None:
        raise _refusal(Path(run_dir), found)


class RunLock:
    """The right to write one run folder, for as long as the ``with`` block lasts.

    ``took_over`` names the holder of a stale lock file that was taken over, if there was one.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK
        self.fd: int | None = None
        self.took_over: Holder | None = None

    def __enter__(self) -> RunLock:
        try:
            fd = _open_locked(self.path)
        except OSError as error:  # a read-only or vanished run folder
            raise LabError(f"cannot lock {self.run_dir} ({error.strerror or error})") from error
        if fd is None:
            raise _refusal(self.run_dir, holder(self.run_dir))
        self.took_over = _read_holder(fd)
        mine = Holder(os.getpid(), socket.gethostname(), time.time())
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(mine)).encode("utf-8"), 0)
        os.fsync(fd)
        self.fd = fd
        let_go(self.run_dir)  # the run has started: its lock holds the folder from here
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # still holding the flock: nobody can have taken it
            os.close(self.fd)
            self.fd = None
