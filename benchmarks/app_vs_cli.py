"""Training throughput inside the app against the CLI, for the same run config.

App path: the real Train page, run by Streamlit's AppTest in this process (as the server runs
it): its Start button hands the run to the job manager's background thread, and the page is
rerun every 1.5 s, as its live view polls. CLI path: ``cifar-lab train`` in its own process,
as users run it. Both start cold (a fresh thread there, a fresh process here) and train the
cpu-fast preset with the same subset and epochs on the default device; the script checks that
the two runs' config.json are identical. Throughput is training images per second of training
time (``history.csv``), so evaluation, data loading and start-up do not count. The paths run
back to back in rounds, alternating which goes first, so drifts of a shared machine hit both
alike; the ratio reported is the median of the rounds' paired ratios.

    CIFAR_LAB_DATA=../shared/data/cifar10-jpeg python benchmarks/app_vs_cli.py \
        [--subset 5000] [--epochs 2] [--rounds 4]

The last line is ``app_vs_cli_ratio: X`` (app images/s over CLI images/s; 1.0 = equal).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import data_source, machine
from streamlit.testing.v1 import AppTest

from app.nav import TRAIN
from app.state.train import FORM
from lab import runs
from lab.config import DATA_ENV
from lab.data import load_dataset
from lab.device import pick_device

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "streamlit_app.py"
# The Train page redraws its live view this often while a job runs.
POLL_S = 1.5
# Wall time of every poll's page rerun: an upper bound of the CPU the page takes from training.
rerender_s: list[float] = []


def training_images_per_s(run_dir: Path) -> float:
    """Images trained per second of training time, over all epochs of the run."""
    history = runs.read_history(run_dir)
    images = (history["images_per_s"] * history["seconds"]).sum()
    return float(images / history["seconds"].sum())


def run_cli(args: argparse.Namespace, source: str, runs_dir: Path, name: str) -> Path:
    """``cifar-lab train`` in its own process, as users run it."""
    command = [sys.executable, "-m", "lab.cli", "train", "--preset", "cpu-fast", "--data", source]
    command += ["--subset", str(args.subset), "--epochs", str(args.epochs)]
    command += ["--runs-dir", str(runs_dir), "--name", name]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"cifar-lab train failed ({done.returncode}): {done.stderr[-2000:]}")
    return runs_dir / name


def run_app(args: argparse.Namespace, source: str, runs_dir: Path, name: str) -> Path:
    """Start the run from the real Train page (AppTest runs the page scripts in this process,
    as the server would) and poll it every 1.5 s, as the page's live view does."""
    os.environ[DATA_ENV], os.environ[runs.RUNS_ENV] = source, str(runs_dir)
    at = AppTest.from_file(str(APP), default_timeout=600).run()
    at.switch_page(TRAIN.script).run()
    at.number_input(key=FORM.key("subset")).set_value(args.subset)
    at.slider(key=FORM.key("epochs")).set_value(args.epochs)
    at.text_input(key=FORM.key("name")).input(name).run()
    next(b for b in at.button if b.label == "Start").click().run()
    while not at.success and not at.error and not at.exception:
        time.sleep(POLL_S)
        start = time.perf_counter()
        at.run()
        rerender_s.append(time.perf_counter() - start)
    if not at.success:
        failure = at.exception[0].message if at.exception else at.error[0].value
        raise SystemExit(f"the app's run failed: {failure}")
    return runs_dir / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=5000, help="training images per run")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4, help="CLI/app pairs to run")
    args = parser.parse_args()
    source = data_source()
    print(machine())
    load_dataset(source)  # decode once up front, so neither path pays for it
    app_rates, cli_rates, ratios = [], [], []
    with tempfile.TemporaryDirectory(prefix="app-vs-cli-") as tmp:
        runs_dir = Path(tmp)
        for round_index in range(1, args.rounds + 1):
            # Alternate which path goes first, so a machine speeding up or slowing down over a
            # round favours neither.
            order = ("cli", "app") if round_index % 2 else ("app", "cli")
            run_dirs = {}
            for path in order:
                trainer = run_cli if path == "cli" else run_app
                run_dirs[path] = trainer(args, source, runs_dir, f"{path}-{round_index}")
            configs = {
                path: json.loads((d / runs.CONFIG).read_text()) for path, d in run_dirs.items()
            }
            if configs["cli"] != configs["app"]:
                raise SystemExit(f"different configs:\nCLI {configs['cli']}\napp {configs['app']}")
            cli_rates.append(training_images_per_s(run_dirs["cli"]))
            app_rates.append(training_images_per_s(run_dirs["app"]))
            ratios.append(app_rates[-1] / cli_rates[-1])
            print(
                f"round {round_index} ({order[0]} first): CLI {cli_rates[-1]:,.0f} images/s, "
                f"app {app_rates[-1]:,.0f} images/s, ratio {ratios[-1]:.3f}"
            )
    print(f"cpu-fast, {args.subset} images, {args.epochs} epochs, device {pick_device()}")
    print(f"CLI: {statistics.median(cli_rates):,.0f} images/s (median of {args.rounds})")
    print(f"app: {statistics.median(app_rates):,.0f} images/s (median of {args.rounds})")
    poll = statistics.median(rerender_s)
    print(f"Train page rerun per poll: median {poll * 1000:.0f} ms, {poll / POLL_S:.1%} of a core")
    # The median of paired ratios: each pair ran back to back, so shared-machine drift cancels.
    print(f"app_vs_cli_ratio: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
