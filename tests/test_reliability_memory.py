"""Bounded memory: a small hostile checkpoint is refused from what it claims, before anything
is built or unpacked, and costs under 200 MB; a checkpoint with non-finite weights is refused.

Peak memory is measured in a child process: it reports its own high-water mark once the lab
is imported, and the child's peak (``ru_maxrss``) comes from ``os.wait4`` in a small launcher
that forked it. The launcher matters: a process started straight from pytest inherits the
pytest process's high-water mark at ``exec`` (Linux keeps the larger of the two), which would
hide the child's own. The child ends with ``os._exit`` once it has its answer: the
interpreter's teardown with torch loaded adds about 180 MB whatever was loaded, which is no
cost of the refusal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from lab import cli
from lab.checkpoint import MAX_CHECKPOINT_BYTES, MAX_CLASSES, load_model, read_checkpoint
from lab.config import ModelConfig
from lab.errors import CheckpointError
from lab.models import build_model
from tests.hostile_files import deflate_bomb, lab_payload, many_classes

ROOT = Path(__file__).resolve().parents[1]
REFUSED_COST_MB = 200

CHILD = """
import json, os, sys
from pathlib import Path

import torch

from lab.checkpoint import load_model
from lab.errors import CheckpointError


def high_water_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])


print(high_water_kib(), flush=True)
try:
    if sys.argv[2] == "torch.load":
        torch.load(sys.argv[1], weights_only=True)
    else:
        load_model(sys.argv[1])
    outcome = "loaded"
except CheckpointError as error:
    outcome = "refused: " + str(error)
except Exception as error:
    outcome = "failed: " + type(error).__name__
print(json.dumps(outcome), flush=True)
os._exit(0)
"""


# Forks the child, waits for it, and prints its peak resident memory in KiB.
LAUNCHER = """
import os, sys

pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-c", *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_cost_mb(path: Path, how: str = "load_model") -> tuple[float, str]:
    """Peak memory (MB) a child adds above its state after importing the lab, loading ``path``
    by ``how``, and what came of it."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, CHILD, str(path), how],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    start, outcome, ended = done.stdout.splitlines()
    code, peak = (int(value) for value in ended.split())
    assert code == 0, done.stderr
    return (peak - int(start)) / 1024, json.loads(outcome)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "2 GiB": deflate_bomb(folder / "bomb-2g.pt", 2 << 30),
        "256 MiB": deflate_bomb(folder / "bomb-256m.pt", 256 << 20),
        "300,000 classes": many_classes(folder / "classes.pt", 300_000),
    }


@pytest.mark.slow
def test_the_bomb_is_live_torch_load_inflates_it(bombs):
    """Control: unguarded, torch.load unpacks the whole record (256 MiB here, to spare the
    machine; the 2 GiB one took 2.05 GB before the fix)."""
    assert bombs["2 GiB"].stat().st_size < 2.5e6
    cost, _ = peak_cost_mb(bombs["256 MiB"], "torch.load")
    assert cost > 256


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("2 GiB", "unpacks to 2147 MB from a file of 2.1 MB"),
        ("300,000 classes", f"claims 300000 classes; the lab's limit is {MAX_CLASSES}"),
    ],
)
def test_a_hostile_checkpoint_is_refused_for_under_200_mb(bombs, name, message, capsys):
    cost, outcome = peak_cost_mb(bombs[name])
    print(f"peak memory refusing the {name} checkpoint: {cost:.1f} MB")
    assert outcome.startswith("refused: ") and message in outcome, outcome
    assert len(outcome.splitlines()) == 1
    assert cost < REFUSED_COST_MB, f"{name}: {cost:.0f} MB"


def test_a_file_larger_than_the_cap_is_refused_unread(tmp_path):
    big = tmp_path / "big.pt"
    with big.open("wb") as handle:
        handle.truncate(MAX_CHECKPOINT_BYTES + 1)  # sparse: no disk used
    with pytest.raises(CheckpointError, match="larger than the 2048 MB"):
        read_checkpoint(big)


@pytest.mark.slow
def test_weights_that_do_not_match_what_the_config_claims_are_refused_before_building(tmp_path):
    """1000 classes at width 4 claim a 430 MB model; the file holds 16 bytes of weights. The
    architecture is checked on the meta device, which allocates nothing."""
    path = many_classes(tmp_path / "claims.pt", MAX_CLASSES)
    cost, outcome = peak_cost_mb(path)
    assert "does not match the model architecture" in outcome and cost < REFUSED_COST_MB


def test_the_largest_real_checkpoint_fits_under_the_cap():
    """alexnet_cifar at width 4 with the most classes, as a last.pt with Adam's two moments."""
    with torch.device("meta"):
        model = build_model(ModelConfig("alexnet_cifar", width=4.0), num_classes=MAX_CLASSES)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    assert 3 * weights < MAX_CHECKPOINT_BYTES


# --- non-finite weights ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def finite_state():
    return build_model(ModelConfig("alexnet_cifar", width=0.125), num_classes=3).state_dict()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused_with_one_line(tmp_path, finite_state, value, capsys):
    state = {key: tensor.clone() for key, tensor in finite_state.items()}
    state["classifier.4.weight"][0, 0] = value
    path = tmp_path / "nan.pt"
    torch.save(lab_payload(["a", "b", "c"], state, width=0.125), path)
    with pytest.raises(CheckpointError, match="non-finite weights .* classifier.4.weight"):
        load_model(path)
    image = tmp_path / "x.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(image)
    assert cli.main(["predict", str(path), str(image)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "non-finite weights" in err


def test_finite_weights_still_load(tmp_path, finite_state):
    path = tmp_path / "ok.pt"
    torch.save(lab_payload(["a", "b", "c"], finite_state, width=0.125), path)
    assert load_model(path).classes == ("a", "b", "c")
