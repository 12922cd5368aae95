"""Re-render times of the app's pages once data is cached: page switches and slider moves.

Drives the real app with Streamlit's AppTest (the script run a browser interaction triggers,
without the browser) on the data named by CIFAR_LAB_DATA, and prints one line per interaction
with the median of a few repeats. The first line (the cold load) includes reading the decoded
data set from the lab's disk cache. Usage:

    CIFAR_LAB_DATA=/data/cifar10-jpeg .venv/bin/python benchmarks/app_rerender.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
# Make `app` importable when the script is run as `python benchmarks/app_rerender.py`.
sys.path.insert(0, str(ROOT))

from app.nav import AUGMENTATIONS, CHECKPOINTS, CLASSIFY, DATASET, TRAIN  # noqa: E402
from app.state.augment import CONTROLS  # noqa: E402
from app.state.dataset import GRID  # noqa: E402

APP = ROOT / "streamlit_app.py"
REPEATS = 5


def timed(action) -> float:
    start = time.perf_counter()
    at = action()
    elapsed = time.perf_counter() - start
    if at.exception:
        sys.exit(f"the app raised: {at.exception[0].message}")
    return elapsed


def main() -> None:
    at = AppTest.from_file(str(APP), default_timeout=600)
    print(f"cold first run (loads the data): {timed(at.run):.2f} s")
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
    print(f"slowest_median_rerender_s: {worst:.3f}")


if __name__ == "__main__":
    main()
