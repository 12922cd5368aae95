"""``cifar-lab``: the lab's command line (stats, train, sweep, eval, predict, runs, export, code).

A thin layer over ``lab``: parse arguments, call one library function, print. User mistakes end
with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from lab import distributed, runs, sweep
from lab.checkpoint import check_classes, is_bare_state_dict, load_model
from lab.codegen import write_code
from lab.config import SETTINGS, RunConfig, Setting
from lab.console import EpochPrinter, progress_printer
from lab.data import CIFAR10_MEAN, CIFAR10_STD, class_counts, load_dataset, make_splits
from lab.device import describe_device, pick_device
from lab.errors import CheckpointError, LabError, NewerFormatError
from lab.evaluate import evaluate_model
from lab.fit import fit
from lab.launch import prepare_resume, prepare_run
from lab.lenses.run_card import write_run_card
from lab.outcome import Outcome
from lab.predict import open_image, predict_images
from lab.presets import PRESET_NAMES, preset_config

# The preset that train and sweep start from when --preset is not given.
DEFAULT_PRESET = "cpu-fast"


def _add_data(
    parser: argparse.ArgumentParser, default: str = "$CIFAR_LAB_DATA, else cifar10"
) -> None:
    parser.add_argument(
        "--data",
        default=None,
        help="'cifar10' or an image folder with train/<class>/* and test/<class>/* "
        f"(default: {default})",
    )


def _load(source: str | None):

    return load_dataset(source, progress=progress_printer("decoding images"))


def cmd_stats(args: argparse.Namespace) -> int:

    dataset = _load(args.data)
    counts = class_counts(dataset)
    result = {
        "source": dataset.source,
        "image_size": list(dataset.image_size),
        "counts": counts,
        "mean": list(dataset.mean),
        "std": list(dataset.std),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"source: {dataset.source}  ({dataset.image_size[0]}x{dataset.image_size[1]} px)")
    print(f"{'class':<14}{'train':>8}{'test':>8}")
    for name in dataset.classes:
        print(f"{name:<14}{counts['train'][name]:>8}{counts['test'][name]:>8}")
    print(f"{'total':<14}{len(dataset.train):>8}{len(dataset.test):>8}")
    mean = ", ".join(f"{v:.4f}" for v in dataset.mean)
    std = ", ".join(f"{v:.4f}" for v in dataset.std)
    print(f"mean: ({mean})  std: ({std})")
    print(f"official CIFAR-10: mean {CIFAR10_MEAN}  std {CIFAR10_STD}")
    return 0


def _given_settings(args: argparse.Namespace) -> dict:
    """The settings given as flags (every flag of ``lab.config.SETTINGS``), by key."""
    return {key: getattr(args, key) for key in SETTINGS if getattr(args, key) is not None}


def _given_options(args: argparse.Namespace) -> dict:
    """Every run option given as a flag: the settings, ``data`` and ``preset``."""
    named = {"data": args.data, "preset": args.preset}
    return {**_given_settings(args), **{k: v for k, v in named.items() if v is not None}}


def _config(args: argparse.Namespace, settings: dict) -> RunConfig:
    """The run the flags describe: the preset (by default ``DEFAULT_PRESET``), the data and
    ``settings``."""
    return preset_config(args.preset or DEFAULT_PRESET, args.data).with_settings(settings)


def cmd_train(args: argparse.Namespace) -> int:
    runs_dir = Path(args.runs_dir) if args.runs_dir else runs.default_runs_dir()
    # Under torchrun this joins the process group; rank 0 alone creates the run folder and prints.
    context, device = distributed.setup(pick_device(args.device))
    try:
        return _train(args, runs_dir, context, device)
    except CheckpointError as error:
        if not _restartable(args, runs_dir, error):
            raise
        raise LabError(
            f"{error}; nothing was changed: add --restart to train run {args.name} again from "
            f"epoch 1 with its {runs.CONFIG} (replacing its {runs.BEST}, {runs.LAST} and "
            "history), or start a new run"
        ) from error
    finally:
        distributed.cleanup(context)


def _restartable(args: argparse.Namespace, runs_dir: Path, error: CheckpointError) -> bool:
    """Whether a resume refused for its checkpoint could start over from the run's config:
    not for a checkpoint from a newer lab (an upgrade reads it), nor without a config."""
    if not args.resume or args.restart or isinstance(error, NewerFormatError):
        return False
    return (runs.existing_run_dir(runs_dir, args.name) / runs.CONFIG).is_file()


def _train(args: argparse.Namespace, runs_dir: Path, context, device) -> int:
    progress = progress_printer("decoding images")
    # The run the command line describes: a new one, or a resumed one that left nothing to resume.
    config = _config(args, _given_settings(args))
    if args.restart and not args.resume:
        raise LabError("--restart goes with --resume --name NAME of the run to start over")
    if args.resume:
        if not args.name:
            raise LabError("--resume needs --name NAME of the run to continue")
        run_dir = runs.existing_run_dir(runs_dir, args.name)
        prepared = prepare_resume(
            run_dir,
            start=config,
            given=_given_options(args),
            restart=args.restart,
            progress=progress,
            context=context,
        )
    else:
        prepared = prepare_run(config, runs_dir, name=args.name, progress=progress, context=context)
    config, run_dir = prepared.config, prepared.run_dir
    if context.is_main:
        if prepared.notice:
            print(f"cifar-lab train: {prepared.notice}", file=sys.stderr)
        processes = f" | {context.world_size} processes" if context.enabled else ""
        print(
            f"run {run_dir} | {config.model.name} | {len(prepared.splits.train)} train images | "
            f"{describe_device(device)}{processes} | monitor {config.train.monitor} | "
            f"global batch {config.train.batch_size}, lr {config.train.lr:g}",
            file=sys.stderr,
        )
    printer = EpochPrinter(config.train.monitor)
    try:
        result = fit(prepared, callbacks=(printer,), device=device)
    finally:
        printer.close()
    failed = 1 if result.outcome is Outcome.DIVERGED else 0
    if context.enabled:
        epochs = len(result.history)
        print(f"rank {context.rank}: {result.outcome.value} after epoch {epochs}", file=sys.stderr)
    if not context.is_main:
        return failed
    print(f"{result.reason}. Run folder: {run_dir}")
    if result.metrics.get("test_acc") is not None:
        print(
            f"best epoch {result.metrics['best_epoch']}: "
            f"test accuracy {result.metrics['test_acc']:.4f}"
        )
    return failed


def cmd_sweep(args: argparse.Namespace) -> int:
    runs_dir = Path(args.runs_dir) if args.runs_dir else runs.default_runs_dir()
    if args.resume:
        if not args.name or _given_options(args):
            raise LabError(
                "--resume needs --name NAME of the sweep, and no settings, data or preset: it "
                "goes on with the sweep's own grid"
            )
        sweep_dir = runs.existing_run_dir(runs_dir, args.name)
    else:
        single, grid = sweep.split_settings(_given_settings(args))
        config = _config(args, single)
        sweep_dir = sweep.create_sweep(config, grid, runs_dir, name=args.name)
    plan = sweep.read_sweep(sweep_dir)
    print(f"sweep {sweep_dir}: {sweep.describe(plan)}", file=sys.stderr)
    ended = sweep.run_sweep(
        sweep_dir,
        device=pick_device(args.device),
        callbacks=(EpochPrinter(plan["monitor"], sys.stderr),),
        on_result=lambda result: print(sweep.format_result(result), flush=True),
        progress=progress_printer("decoding images"),
    )
    print(f"sweep {ended['state']}: {sweep_dir / sweep.SWEEP_FILE}", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    path = runs.resolve_checkpoint(args.checkpoint, args.runs_dir)
    loaded = load_model(path, device=pick_device(args.device))
    # The run's own data unless --data says otherwise (a notebook file names none: the default).
    dataset = _load(args.data or loaded.config.data.source)
    if is_bare_state_dict(loaded.payload):  # it carries no statistics: the data's own
        loaded = replace(loaded, mean=dataset.mean, std=dataset.std)
    check_classes(loaded, dataset.classes)
    if args.split == "test":
        data = dataset.test
    else:
        splits = make_splits(dataset, loaded.config.data)
        data = splits.val if args.split == "val" else splits.train
        if data is None:
            raise LabError("this run has no validation split (val_fraction 0): use --split test")
    result = evaluate_model(loaded, data)
    summary = {"checkpoint": str(path), "split": args.split, **result.summary()}
    if args.json:
        summary["per_class"] = result.per_class().to_dict(orient="records")
        summary["confusion"] = result.confusion().tolist()
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{path} on {args.split} ({summary['images']} images)")
    print(
        f"accuracy {summary['accuracy']:.4f}  loss {summary['loss']:.4f}  "
        f"top-5 {summary['top5_accuracy']:.4f}"
    )
    print(result.per_class().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:

    path = runs.resolve_checkpoint(args.checkpoint, args.runs_dir)
    loaded = load_model(path)
    images = [open_image(p) for p in args.images]
    predictions = predict_images(loaded, images, top_k=args.top_k)
    if args.json:
        out = [
            {"file": str(p), **pred.to_dict()}
            for p, pred in zip(args.images, predictions, strict=True)
        ]
        print(json.dumps(out, indent=2))
        return 0
    for image_path, prediction in zip(args.images, predictions, strict=True):
        ranked = ", ".join(
            f"{lab} {p:.1%}"
            for lab, p in zip(prediction.labels, prediction.probabilities, strict=True)
        )
        print(f"{image_path}: {ranked}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:

    found = runs.list_runs(args.runs_dir)
    if args.json:
        listing = [
            {"name": r.name, "path": str(r.path), "damaged": r.damaged, **r.metrics} for r in found
        ]
        print(json.dumps(listing, indent=2))
        return 0
    if not found:
        where = args.runs_dir or runs.default_runs_dir()
        print(f"no runs in {where}: start one with 'cifar-lab train'")
        return 0
    for run in found:
        m = run.metrics
        val = f"val {m['best_val_acc']:.4f}" if m.get("best_val_acc") is not None else "val -"
        test = f"test {m['test_acc']:.4f}" if m.get("test_acc") is not None else "test -"
        model = run.config.get("model", {}).get("name", "?")
        if run.damaged:
            state = f"damaged: {run.damaged}"
        elif run.checkpoint is None:
            state = "no checkpoint yet: --resume starts it again from epoch 1"
        else:
            state = m.get("reason", "running or interrupted")
        print(f"{run.name:<32} {model:<14} epochs {run.epochs:>3}  {val}  {test}  {state}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:

    run_dir = runs.resolve_checkpoint(args.run, args.runs_dir).parent
    out = Path(args.out) if args.out else Path(f"{run_dir.name}-card.zip")
    dataset = _load(args.data) if args.data else None  # None: the data the run trained on
    path = write_run_card(run_dir, out, dataset=dataset, device=pick_device(args.device))
    print(path)
    return 0


def cmd_code(args: argparse.Namespace) -> int:
    if (args.run is None) == (args.preset is None):
        raise LabError("give a run (a run folder or name) or --preset NAME, one of the two")
    if args.preset is not None:
        config = preset_config(args.preset, args.data)
    else:
        run_dir = runs.resolve_checkpoint(args.run, args.runs_dir).parent
        values = runs.read_config(run_dir)
        if not values:
            raise LabError(f"{run_dir} has no {runs.CONFIG}: it is not a run folder")
        config = RunConfig.from_dict(values)
        if args.data is not None:
            config = config.with_overrides(data={"source": args.data})
    print(write_code(config, args.out, notebook=args.notebook))
    return 0


def _value_list(kind: type):
    """An argparse type for comma-separated values of ``kind`` ("1e-3,2e-3")."""

    def parse(text: str) -> tuple:
        try:
            return sweep.parse_values(text, kind)
        except LabError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    return parse


def _add_setting(parser: argparse.ArgumentParser, declared: Setting, listed: bool = False) -> None:
    """The flag of one declared setting: its type, its choices and its help in plain words;
    ``listed`` takes comma-separated values instead of one."""
    flag = "--" + declared.key.replace("_", "-")
    if declared.kind == "bool":
        parser.add_argument(
            flag, dest=declared.key, action=argparse.BooleanOptionalAction, help=declared.describe()
        )
        return
    kind = {"int": int, "float": float, "str": str}[declared.kind]
    metavar = None if declared.spec.choices else declared.kind.upper()
    parser.add_argument(
        flag,
        dest=declared.key,
        type=_value_list(kind) if listed else kind,
        choices=declared.spec.choices or None,
        metavar=f"{metavar}[,{metavar}...]" if listed else metavar,
        help=declared.describe().replace("%", "%%"),
    )


def _add_run_options(parser: argparse.ArgumentParser, listed: tuple[str, ...] = ()) -> None:
    """What starts a run: data, preset, every setting (those in ``listed`` as lists), the
    device and the runs folder."""
    _add_data(parser)
    parser.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        help=f"the recipe to start from (default: {DEFAULT_PRESET})",
    )
    for declared in SETTINGS.values():
        _add_setting(parser, declared, listed=declared.key in listed)
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    parser.add_argument(
        "--runs-dir", help="folder of run folders (default: $CIFAR_LAB_RUNS or ./runs)"
    )


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake ends with one line on stderr, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:

    parser = _Parser(prog="cifar-lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    stats = sub.add_parser("stats", help="images per class and split, channel mean/std")
    _add_data(stats)
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(func=cmd_stats)

    train = sub.add_parser("train", help="train a model (a preset, with overrides)")
    _add_run_options(train)
    train.add_argument("--name", help="run name (default: <preset>-<date>-<time>)")
    train.add_argument("--resume", action="store_true", help="continue run --name from last.pt")
    train.add_argument(
        "--restart",
        action="store_true",
        help="with --resume: train the run again from epoch 1 with its config.json, whatever its "
        "last.pt holds (a damaged one, say); its best.pt, last.pt and history are replaced",
    )
    train.set_defaults(func=cmd_train)

    sweeping = sub.add_parser(
        "sweep",
        help="one run per combination of comma-separated --lr, --batch-size, --epochs; "
        "--patience values are replayed, not retrained",
    )
    _add_run_options(sweeping, listed=sweep.SWEPT)
    sweeping.add_argument("--name", help="sweep folder in the runs folder (default: sweep-<time>)")
    sweeping.add_argument("--resume", action="store_true", help="continue sweep --name")
    sweeping.set_defaults(func=cmd_sweep)

    evaluate = sub.add_parser("eval", help="score a checkpoint on a split")
    evaluate.add_argument("checkpoint", help="a .pt/.pth file, a run folder or a run name")
    _add_data(evaluate, "the data the run was trained on")
    evaluate.add_argument("--split", choices=("test", "val", "train"), default="test")
    evaluate.add_argument("--runs-dir")
    evaluate.add_argument("--device")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(func=cmd_eval)

    predict = sub.add_parser("predict", help="classify image files")
    predict.add_argument("checkpoint", help="a .pt/.pth file, a run folder or a run name")
    predict.add_argument("images", nargs="+", help="image files (any format Pillow reads)")
    predict.add_argument("--top-k", type=int, default=5)
    predict.add_argument("--runs-dir")
    predict.add_argument("--json", action="store_true")
    predict.set_defaults(func=cmd_predict)

    listing = sub.add_parser("runs", help="list runs with their best metrics")
    listing.add_argument("--runs-dir")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_runs)

    export = sub.add_parser(
        "export", help="write a run card zip: config, history, metrics, confusion, checkpoint"
    )
    export.add_argument("run", help="a run name or run folder")
    export.add_argument("--out", help="zip file to write (default: ./<run>-card.zip)")
    _add_data(export, "the data the run was trained on")
    export.add_argument("--runs-dir")
    export.add_argument("--device")
    export.set_defaults(func=cmd_export)

    code = sub.add_parser(
        "code", help="write a run's recipe as one standalone PyTorch script (or a notebook)"
    )
    code.add_argument("run", nargs="?", help="a run name or run folder")
    code.add_argument("--preset", choices=PRESET_NAMES, help="a preset's recipe instead of a run's")
    code.add_argument("--out", required=True, help="file to write (a .py script, or a .ipynb)")
    code.add_argument("--notebook", action="store_true", help="a Jupyter notebook, not a script")
    _add_data(code, "the run's own data; for a preset, $CIFAR_LAB_DATA, else cifar10")
    code.add_argument("--runs-dir")
    code.set_defaults(func=cmd_code)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except LabError as error:
        print(f"cifar-lab {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cifar-lab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
