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

APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"
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
            at.slider(key="grid_per_class").set_value(4 + len(samples) % 8).run()
        ),
        "switch to Augmentations": lambda: at.switch_page("app_pages/2_augmentations.py").run(),
        "Augmentations: rotation slider": lambda: (
            at.slider(key="aug_rotation").set_value(5.0 + len(samples)).run()
        ),
        "Augmentations: K draws slider": lambda: (
            at.slider(key="aug_draws").set_value(4 + len(samples) % 6).run()
        ),
        "switch to Train": lambda: at.switch_page("app_pages/3_train.py").run(),
        "switch to Checkpoints": lambda: at.switch_page("app_pages/4_checkpoints.py").run(),
        "switch to Classify": lambda: at.switch_page("app_pages/5_classify.py").run(),
        "switch to Dataset": lambda: at.switch_page("app_pages/1_dataset.py").run(),
    }
    worst = 0.0
    for name, action in interactions.items():
        if name.startswith("Augmentations"):
            at.switch_page("app_pages/2_augmentations.py").run()
        elif name.startswith("Dataset"):
            at.switch_page("app_pages/1_dataset.py").run()
        samples: list[float] = []
        for _ in range(REPEATS):
            if name.startswith("switch"):
                at.switch_page(
                    "app_pages/1_dataset.py" if "Dataset" not in name else "app_pages/3_train.py"
                )
                at.run()
            samples.append(timed(action))
        median = statistics.median(samples)
        worst = max(worst, median)
        print(f"{name}: median {median * 1000:.0f} ms (max {max(samples) * 1000:.0f} ms)")
    print(f"slowest_median_rerender_s: {worst:.3f}")


if __name__ == "__main__":
    main()
