"""``cifar-lab``: the command-line face of the lab (stats, train, eval, predict, runs, export).

A thin layer over ``lab``: parse arguments, call one library function, print. User mistakes end
with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from lab.errors import LabError


def _add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default=None,
        help="'cifar10' or an image folder with train/<class>/* and test/<class>/* "
        "(default: $CIFAR_LAB_DATA, else cifar10)",
    )


def _progress_printer(label: str):
    from tqdm import tqdm

    state: dict = {}

    def progress(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc=label, unit="img", file=sys.stderr)
        state["bar"].n = done
        state["bar"].refresh()
        if done >= total:
            state["bar"].close()

    return progress


def _load(source: str | None):
    from lab.data import load_dataset

    return load_dataset(source, progress=_progress_printer("decoding images"))


def cmd_stats(args: argparse.Namespace) -> int:
    from lab.data import CIFAR10_MEAN, CIFAR10_STD, class_counts

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


def _train_config(args: argparse.Namespace):
    from lab.presets import preset_config

    config = preset_config(args.preset, args.data)
    overrides: dict[str, dict] = {"data": {}, "model": {}, "train": {}}
    for flag, section, key in (
        ("val_fraction", "data", "val_fraction"),
        ("subset", "data", "subset"),
        ("model", "model", "name"),
        ("width", "model", "width"),
        ("epochs", "train", "epochs"),
        ("batch_size", "train", "batch_size"),
        ("lr", "train", "lr"),
        ("patience", "train", "patience"),
        ("min_delta", "train", "min_delta"),
        ("monitor", "train", "monitor"),
        ("pipeline", "train", "pipeline"),
        ("precision", "train", "precision"),
        ("seed", "train", "seed"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides[section][key] = value
    if args.seed is not None:
        overrides["data"]["seed"] = args.seed
    if args.eval_test:
        overrides["train"]["eval_test"] = True
    if args.sync_bn:
        overrides["train"]["sync_bn"] = True
    if overrides["model"].get("name", config.model.name) != config.model.name:
        # Switching network: alexnet needs its 227 px input, alexnet_cifar the native size.
        switching_to_alexnet = overrides["model"]["name"] == "alexnet"
        overrides["augment"] = {"resize": 227 if switching_to_alexnet else None}
        if switching_to_alexnet:
            overrides["model"]["width"] = 1.0
    if overrides["train"].get("monitor", "").startswith("val_") and config.data.val_fraction == 0:
        overrides["data"].setdefault("val_fraction", 0.1)
    return config.with_overrides(**{k: v for k, v in overrides.items() if v})


def cmd_train(args: argparse.Namespace) -> int:

    from lab import distributed, runs
    from lab.device import pick_device

    runs_dir = Path(args.runs_dir) if args.runs_dir else runs.default_runs_dir()
    # Under torchrun this joins the process group; rank 0 alone creates the run folder and prints.
    context, device = distributed.setup(pick_device(args.device))
    try:
        return _train(args, runs_dir, context, device)
    finally:
        distributed.cleanup(context)


def _train(args: argparse.Namespace, runs_dir: Path, context, device) -> int:
    from tqdm import tqdm

    from lab import distributed, runs
    from lab.data import make_splits
    from lab.device import describe_device
    from lab.train import BatchEvent, EndEvent, EpochEvent, check_batch_size, fit

    if args.resume:
        if not args.name:
            raise LabError("--resume needs --name NAME of the run to continue")
        run_dir = runs.existing_run_dir(runs_dir, args.name)
        if not (run_dir / runs.LAST).exists():
            raise LabError(f"nothing to resume: {run_dir / runs.LAST} does not exist")
        from lab.checkpoint import checkpoint_config, read_checkpoint

        config = checkpoint_config(read_checkpoint(run_dir / runs.LAST), run_dir / runs.LAST)
    else:
        config = _train_config(args)
        run_dir = None
    splits = make_splits(_load(config.data.source), config.data)
    check_batch_size(config.train.batch_size, len(splits.train))
    if run_dir is None and context.is_main:
        run_dir = runs.create_run_dir(
            runs_dir, args.name, prefix=config.preset or config.model.name
        )
    run_dir = distributed.broadcast(run_dir, context)
    if context.is_main:
        processes = f" | {context.world_size} processes" if context.enabled else ""
        print(
            f"run {run_dir} | {config.model.name} | {len(splits.train)} train images | "
            f"{describe_device(device)}{processes} | monitor {config.train.monitor} | "
            f"global batch {config.train.batch_size}, lr {config.train.lr:g}",
            file=sys.stderr,
        )
    bar: dict = {}

    def on_event(event: object) -> None:
        if isinstance(event, BatchEvent):
            if event.batch == 1:
                bar["bar"] = tqdm(
                    total=event.batches, desc=f"epoch {event.epoch}", unit="batch", file=sys.stderr
                )
            bar["bar"].set_postfix(loss=f"{event.loss:.3f}", img_s=f"{event.images_per_s:.0f}")
            bar["bar"].update(1)
        elif isinstance(event, EpochEvent):
            if "bar" in bar:
                bar.pop("bar").close()
            row = event.row
            parts = [f"Epoch {event.epoch}: Training Loss: {row['train_loss']:.4f}"]
            parts.append(f"Training Accuracy: {row['train_acc']:.4f}")
            for split in ("val", "test"):
                if row[f"{split}_acc"] is not None:
                    title = "Validation" if split == "val" else "Testing"
                    parts.append(f"{title} Loss: {row[f'{split}_loss']:.4f}")
                    parts.append(f"{title} Accuracy: {row[f'{split}_acc']:.4f}")
            print(", ".join(parts), flush=True)
            if event.improved:
                print(f"Model saved at accuracy of: {row[config.train.monitor]:.4f}", flush=True)
        elif isinstance(event, EndEvent) and "bar" in bar:
            bar.pop("bar").close()

    result = fit(
        config, run_dir, splits=splits, resume=args.resume, callbacks=(on_event,), device=device
    )
    metrics = result.metrics
    if context.enabled:
        epochs = len(result.history)
        print(f"rank {context.rank}: {result.reason} after epoch {epochs}", file=sys.stderr)
    if not context.is_main:
        return 1 if result.reason.startswith("diverged") else 0
    print(f"{result.reason}. Run folder: {run_dir}")
    if metrics.get("test_acc") is not None:
        print(f"best epoch {metrics['best_epoch']}: test accuracy {metrics['test_acc']:.4f}")
    return 1 if result.reason.startswith("diverged") else 0


def cmd_eval(args: argparse.Namespace) -> int:
    from lab import runs
    from lab.checkpoint import load_model
    from lab.data import make_splits
    from lab.device import pick_device
    from lab.evaluate import evaluate_model

    path = runs.resolve_checkpoint(args.checkpoint, args.runs_dir)
    dataset = _load(args.data)
    loaded = load_model(path, device=pick_device(args.device), stats=(dataset.mean, dataset.std))
    if tuple(dataset.classes) != tuple(loaded.classes):
        raise LabError(
            f"the data's classes {list(dataset.classes)} differ from the checkpoint's "
            f"{list(loaded.classes)}"
        )
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
    from lab import runs
    from lab.checkpoint import load_model
    from lab.predict import open_image, predict_images

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
    from lab import runs

    found = runs.list_runs(args.runs_dir)
    if args.json:
        print(
            json.dumps(
                [{"name": r.name, "path": str(r.path), **r.metrics} for r in found], indent=2
            )
        )
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
        reason = m.get("reason", "running or interrupted")
        print(f"{run.name:<32} {model:<14} epochs {run.epochs:>3}  {val}  {test}  {reason}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from lab import runs
    from lab.device import pick_device
    from lab.export import write_run_card

    run_dir = runs.resolve_checkpoint(args.run, args.runs_dir).parent
    out = Path(args.out) if args.out else Path(f"{run_dir.name}-card.zip")
    path = write_run_card(run_dir, out, dataset=_load(args.data), device=pick_device(args.device))
    print(path)
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake ends with one line on stderr, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from lab.presets import PRESET_NAMES
    from lab.train import MONITORS, PIPELINES

    parser = _Parser(prog="cifar-lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    stats = sub.add_parser("stats", help="images per class and split, channel mean/std")
    _add_data(stats)
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(func=cmd_stats)

    train = sub.add_parser("train", help="train a model (a preset, with overrides)")
    _add_data(train)
    train.add_argument("--preset", choices=PRESET_NAMES, default="cpu-fast")
    train.add_argument("--model", choices=("alexnet", "alexnet_cifar"))
    train.add_argument("--width", type=float, help="channel multiplier of alexnet_cifar")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--patience", type=int)
    train.add_argument("--min-delta", type=float)
    train.add_argument("--monitor", choices=MONITORS)
    train.add_argument("--val-fraction", type=float)
    train.add_argument("--subset", type=int, help="train on a stratified subset of N images")
    train.add_argument("--seed", type=int)
    train.add_argument("--pipeline", choices=PIPELINES, help="fast (default) or reference")
    train.add_argument("--precision", choices=("auto", "fp32", "bf16"))
    train.add_argument("--eval-test", action="store_true", help="score the test split every epoch")
    train.add_argument(
        "--sync-bn", action="store_true", help="under torchrun: BatchNorm over the global batch"
    )
    train.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    train.add_argument(
        "--runs-dir", help="folder of run folders (default: $CIFAR_LAB_RUNS or ./runs)"
    )
    train.add_argument("--name", help="run name (default: <preset>-<date>-<time>)")
    train.add_argument("--resume", action="store_true", help="continue run --name from last.pt")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("eval", help="score a checkpoint on a split")
    evaluate.add_argument("checkpoint", help="a .pt/.pth file, a run folder or a run name")
    _add_data(evaluate)
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
    _add_data(export)
    export.add_argument("--runs-dir")
    export.add_argument("--device")
    export.set_defaults(func=cmd_export)
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
