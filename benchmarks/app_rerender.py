"""Re-render times of the app's pages once data is cached: page switches, slider moves, and
every tab of the Checkpoints page on a finished run.

Drives the real app with Streamlit's AppTest (the script run a browser interaction triggers,
without the browser) on the data named by CIFAR_LAB_DATA and the runs in CIFAR_LAB_RUNS, and
prints one line per interaction with the median of a few repeats. The first line (the cold
load) includes reading the decoded data set from the lab's disk cache.

For the Checkpoints page (the goal: a finished cpu-fast run's evaluation first rendered
in at most 2 s, re-rendered in at most 0.5 s) each tab is timed twice: its first render, with
Streamlit's caches emptied (the run's kept evaluation read from its file), and the median of
its re-renders. The map's t-SNE is also timed computed afresh, without its file cache (the goal:
at most 15 s).

A class shares one server, so ``--beside`` times everything while a classmate's run trains in
the app's own job manager (a cpu-fast run on all the data, in a folder of its own), and adds
the first view of the Train page by a second browser session, which lists that run.
``--cold-data`` starts with an empty decoded-data cache, so the first line is the Dataset
page's load of a server that never decoded the images (the goal: under 15 s). The LR finder's
range test is timed from its button. Usage:

    CIFAR_LAB_DATA=/data/cifar10-jpeg CIFAR_LAB_RUNS=/tmp/runs \\
        .venv/bin/python benchmarks/app_rerender.py --run bench --beside --cold-data
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
# Make `app` importable when the script is run as `python benchmarks/app_rerender.py`.
sys.path.insert(0, str(ROOT))

from _common import machine  # noqa: E402

from app.cache import job_manager  # noqa: E402
from app.nav import AUGMENTATIONS, CHECKPOINTS, CLASSIFY, DATASET, TRAIN  # noqa: E402
from app.state.augment import CONTROLS  # noqa: E402
from app.state.checkpoints import TABS, VIEW  # noqa: E402
from app.state.dataset import GRID  # noqa: E402
from lab import runs  # noqa: E402
from lab.checkpoint import load_model  # noqa: E402
from lab.config import default_source  # noqa: E402
from lab.data import load_dataset  # noqa: E402
from lab.lenses.embedding import embedding_map  # noqa: E402
from lab.presets import preset_config  # noqa: E402

APP = ROOT / "streamlit_app.py"
REPEATS = 5
FIRST_RENDER_GOAL_S = 2.0
RERENDER_GOAL_S = 0.5
TSNE_GOAL_S = 15.0
COLD_DATA_GOAL_S = 15.0
# The classmate's run: long enough to train through the whole benchmark.
BESIDE_PRESET, BESIDE_EPOCHS = "cpu-fast", 30
# The job manager pauses a run nobody watches (after 15 minutes by default): keep watching it.
WATCH_EVERY_S = 30.0


def timed(action) -> float:
    start = time.perf_counter()
    at = action()
    elapsed = time.perf_counter() - start
    if at.exception:
        sys.exit(f"the app raised: {at.exception[0].message}")
    return elapsed


def verdict(seconds: float, goal: float) -> str:
    return f"{'meets' if seconds <= goal else 'MISSES'} the goal of {goal:g} s"


def pages(at: AppTest) -> float:
    """Page switches and slider moves; returns the slowest median."""
    interactions = {
        "Dataset: rerun": lambda: at.run(),
        "Dataset: images-per-class slider": lambda: (
            at.slider(key=GRID.key("per_class")).set_value(4 + len(samples) % 8).run()
        ),
        "switch to Augmentations": lambda: at.switch_page(AUGMENTATIONS.script).run(),
        "Augmentations: rotation slider": lambda: (
            at.slider(key=CONTROLS.key("rotation")).set_value(5.0 + len(samples)).run()
        ),
        "Augmentations: K draws slider": lambda: (
            at.slider(key=CONTROLS.key("draws")).set_value(4 + len(samples) % 6).run()
        ),
        "switch to Train": lambda: at.switch_page(TRAIN.script).run(),
        "switch to Checkpoints": lambda: at.switch_page(CHECKPOINTS.script).run(),
        "switch to Classify": lambda: at.switch_page(CLASSIFY.script).run(),
        "switch to Dataset": lambda: at.switch_page(DATASET.script).run(),
    }
    worst = 0.0
    for name, action in interactions.items():
        if name.startswith("Augmentations"):
            at.switch_page(AUGMENTATIONS.script).run()
        elif name.startswith("Dataset"):
            at.switch_page(DATASET.script).run()
        samples: list[float] = []
        for _ in range(REPEATS):
            if name.startswith("switch"):
                at.switch_page(DATASET.script if "Dataset" not in name else TRAIN.script)
                at.run()
            samples.append(timed(action))
        median = statistics.median(samples)
        worst = max(worst, median)
        print(f"{name}: median {median * 1000:.0f} ms (max {max(samples) * 1000:.0f} ms)")
    return worst


def checkpoint_tabs(at: AppTest, run: str) -> tuple[float, float]:
    """Every tab of the Checkpoints page on ``run``: first render and re-render; returns the
    slowest first render of an evaluation tab and the slowest re-render median."""
    at.switch_page(CHECKPOINTS.script).run()
    at.selectbox(key=VIEW.key("detail")).set_value(run).run()
    first_worst = rerender_worst = 0.0
    for tab in TABS:
        st.cache_data.clear()  # the run's evaluation is read from its file again

        def show(tab: str = tab) -> AppTest:
            at.session_state[VIEW.key("tab")] = tab
            return at.run()

        first = timed(show)
        samples = [timed(show) for _ in range(REPEATS)]
        median = statistics.median(samples)
        rerender_worst = max(rerender_worst, median)
        if tab in ("Errors", "Calibration", "Compare"):
            first_worst = max(first_worst, first)
        print(
            f"Checkpoints {tab}: first render {first:.2f} s, re-render median "
            f"{median * 1000:.0f} ms (max {max(samples) * 1000:.0f} ms)"
        )
    return first_worst, rerender_worst


def fresh_tsne(runs_dir: Path, run: str, data: str) -> float:
    """Seconds to map ``run``'s checkpoint with t-SNE from scratch (features and projection,
    no file cache)."""
    loaded = load_model(runs_dir / run / runs.BEST)
    dataset = load_dataset(data)
    start = time.perf_counter()
    embedding_map(loaded, dataset, "tsne", cache=False)
    return time.perf_counter() - start


@contextmanager
def classmate_training(data: str):
    """A classmate's run training in the app's job manager while the body runs; stopped after."""
    manager = job_manager()
    config = preset_config(BESIDE_PRESET, data).with_overrides(
        train={"epochs": BESIDE_EPOCHS, "patience": BESIDE_EPOCHS}
    )
    with tempfile.TemporaryDirectory(prefix="cifar-lab-beside-") as runs_dir:
        job_id = manager.submit(config, Path(runs_dir), owner="classmate", owner_name="Classmate")
        done = threading.Event()

        def watch() -> None:
            while not done.wait(WATCH_EVERY_S):
                manager.snapshot(job_id)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        while (snap := manager.snapshot(job_id)).batch == 0:
            if not snap.active:
                sys.exit(f"the classmate's run did not train: {snap.error or snap.state}")
            time.sleep(0.5)
        print(f"a classmate's {BESIDE_PRESET} run trains beside ({job_id})")
        try:
            yield
        finally:
            snap = manager.snapshot(job_id)
            print(f"the classmate's run was at epoch {snap.epoch}, batch {snap.batch}; stopping it")
            done.set()
            manager.stop_all()


def second_session_train_page() -> float:
    """A second browser session's first view of the Train page (it lists the classmate's run)."""
    other = AppTest.from_file(str(APP), default_timeout=600)
    other.switch_page(TRAIN.script)
    return timed(other.run)


def lr_finder(at: AppTest) -> float:
    """The LR finder's range test, from its button to the drawn curve."""
    at.switch_page(TRAIN.script).run()
    (find,) = [b for b in at.button if b.label == "Find a learning rate"]
    return timed(find.click().run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="the finished run to time the Checkpoints tabs on")
    parser.add_argument(
        "--beside", action="store_true", help="time it all while a classmate's run trains"
    )
    parser.add_argument(
        "--cold-data", action="store_true", help="start with an empty decoded-data cache"
    )
    args = parser.parse_args()
    print(machine())
    if args.cold_data:
        os.environ["CIFAR_LAB_CACHE"] = tempfile.mkdtemp(prefix="cifar-lab-cold-cache-")
    at = AppTest.from_file(str(APP), default_timeout=600)
    cold = timed(at.run)
    if args.cold_data:
        print(f"dataset_cold_load_s: {cold:.2f} ({verdict(cold, COLD_DATA_GOAL_S)})")
    else:
        print(f"cold first run (loads the data): {cold:.2f} s")
    with classmate_training(default_source()) if args.beside else nullcontext():
        if args.beside:
            first = second_session_train_page()
            goal = verdict(first, FIRST_RENDER_GOAL_S)
            print(f"second_session_train_first_view_s: {first:.2f} ({goal})")
        print(f"slowest_median_rerender_s: {pages(at):.3f}")
        print(f"lr_finder_s: {lr_finder(at):.2f}")
        if args.run is None:
            return
        first, rerender = checkpoint_tabs(at, args.run)
        print(f"checkpoints_first_render_s: {first:.3f} ({verdict(first, FIRST_RENDER_GOAL_S)})")
        print(f"checkpoints_rerender_s: {rerender:.3f} ({verdict(rerender, RERENDER_GOAL_S)})")
        tsne = fresh_tsne(runs.default_runs_dir(), args.run, default_source())
        print(f"map_tsne_first_time_s: {tsne:.2f} ({verdict(tsne, TSNE_GOAL_S)})")


if __name__ == "__main__":
    main()
