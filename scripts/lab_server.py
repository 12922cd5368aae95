"""Run CIFAR Lab's Streamlit server for a browser: a small copy of the data, a free port, and a
clean shutdown. Shared by the end-to-end tests (`tests/e2e`) and `scripts/screenshots.py`.

    with LabServer(data=subset, workdir=tmp) as server:
        page.goto(server.url)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "streamlit_app.py"
# The default subset: per class, this many training and test images.
TRAIN_PER_CLASS = 50
TEST_PER_CLASS = 10
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
# Seconds to wait for the server to answer its health check, and for it to exit when asked.
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


def is_image_folder(path: Path) -> bool:
    """True for a folder laid out as train/<class>/* and test/<class>/*."""
    return (path / "train").is_dir() and (path / "test").is_dir()


def make_subset(
    source: Path,
    target: Path,
    train_per_class: int = TRAIN_PER_CLASS,
    test_per_class: int = TEST_PER_CLASS,
) -> Path:
    """Copy the first images (by name) of every class of an image folder into ``target``, in
    the same train/<class>/ and test/<class>/ layout. Returns ``target``."""
    if not is_image_folder(source):
        raise FileNotFoundError(f"{source} is not an image folder with train/ and test/")
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        classes = sorted(p for p in (source / split).iterdir() if p.is_dir())
        if not classes:
            raise FileNotFoundError(f"{source / split} has no class folders")
        for folder in classes:
            images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if len(images) < count:
                raise FileNotFoundError(f"{folder} has {len(images)} images, {count} needed")
            destination = target / split / folder.name
            destination.mkdir(parents=True, exist_ok=True)
            for image in images[:count]:
                shutil.copyfile(image, destination / image.name)
    return target


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabServer:
    """``streamlit run streamlit_app.py`` in its own process group, with CIFAR_LAB_DATA set to
    ``data`` and the runs folder and the decoded-data cache in ``workdir``."""

    def __init__(self, data: Path, workdir: Path, port: int | None = None) -> None:
        self.data = Path(data)
        self.workdir = Path(workdir)
        self.runs_dir = self.workdir / "runs"
        self.cache_dir = self.workdir / "cache"
        self.log_path = self.workdir / "streamlit.log"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(self.port),
            "--browser.gatherUsageStats",
            "false",
            # A page edited while the server runs must not change the app under test.
            "--server.fileWatcherType",
            "none",
        ]

    def start(self) -> LabServer:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "CIFAR_LAB_DATA": str(self.data),
            "CIFAR_LAB_RUNS": str(self.runs_dir),
            "CIFAR_LAB_CACHE": str(self.cache_dir),
            "PYTHONUNBUFFERED": "1",
        }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends it and children
            )
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Return once ``/_stcore/health`` answers ok; raise if the server died or is late."""
        deadline = time.monotonic() + timeout_s
        health = f"{self.url}/_stcore/health"
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(health, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"streamlit did not answer {health} within {timeout_s:.0f} s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.25)

    def stop(self) -> None:
        """SIGTERM to the process group, then SIGKILL if it is still there after a while."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
