"""The training steps of a generated script, after the data steps (``lab.codegen.data_steps``):
the model, the loss, optimizer and schedule, evaluation, the training loop with early stopping
and checkpointing, and the test; each a function that returns its ``Section`` for a run config.

The models and the epoch lines are the lab's own source (``lab_source``), so a script builds
exactly the lab's network and prints exactly its lines; the optimizer, the schedule and the
progressive image sizes are written out in plain PyTorch, and the tests check them against
``lab.optim`` and ``lab.batches``.
"""

from __future__ import annotations

from textwrap import indent

from lab import epoch_lines, models
from lab.codegen.section import Section, applies, code_block, constant, lab_source, literal
from lab.config import RunConfig
from lab.fit import WHITEN_SAMPLE
from lab.optim import BN_LR_SCALE, SGD_MOMENTUM

# What each model's code is made of in lab.models, in the order it is defined: its constants,
# then its functions and classes; and the class a script builds.
MODEL_CONSTANTS = {"alexnet_whitened": ("WHITEN_KERNEL", "WHITEN_CHANNELS", "WHITEN_EPS")}
MODEL_PARTS = {
    "alexnet": ("AlexNet",),
    "alexnet_cifar": ("_conv_bn", "AlexNetCifar"),
    "alexnet_whitened": (
        "_BatchNormBias",
        "_conv_identity",
        "_whitened_stage",
        "AlexNetWhitened",
        "init_whitening",
    ),
}
MODEL_CLASSES = {
    "alexnet": "AlexNet",
    "alexnet_cifar": "AlexNetCifar",
    "alexnet_whitened": "AlexNetWhitened",
}
# Where the script looks for torchvision's CIFAR-10 download, as the notebook did.
CIFAR10_FOLDER = "./dataset"


def model(config: RunConfig) -> Section:
    name = config.model.name
    constants = "\n".join(lab_source(models, part) for part in MODEL_CONSTANTS.get(name, ()))
    parts = [lab_source(models, part) for part in MODEL_PARTS[name]]
    source = "\n\n\n".join([constants, *parts] if constants else parts)
    width = applies(config, "width")
    settings = [constant(config, "model.dropout")]
    if width:
        settings.insert(0, constant(config, "model.width", note="a multiple of every layer's"))
    arguments = "num_classes=len(classes)" + (", width=WIDTH" if width else "")
    build = f"model = {MODEL_CLASSES[name]}({arguments}, dropout=DROPOUT).to(device)"
    if name == "alexnet_whitened":
        build = code_block(
            """
            model = $model_class($arguments, dropout=DROPOUT)
            # The whitening stem is computed from the training images, not learned: an evenly
            # spread sample of them, as the network sees them.
            WHITEN_SAMPLE = $sample
            step = max(1, len(train_set) // WHITEN_SAMPLE)
            sample = [test_transform(Image.fromarray(image)) for image in train_set.images[::step]]
            init_whitening(model, torch.stack(sample))
            model = model.to(device)
            """,
            model_class=MODEL_CLASSES[name],
            arguments=arguments,
            sample=literal(WHITEN_SAMPLE),
        )
    code = "\n\n\n".join(["\n".join(settings), source, build])
    why = {
        "alexnet": "The course notebook's AlexNet with BatchNorm, for 227 px images: five "
        "convolutions that find features, then a classifier of three linear layers with "
        "dropout.",
        "alexnet_cifar": "The AlexNet family built for the native 32 px images: five 3x3 "
        "convolutions with BatchNorm and three max-pools, then a dropout classifier; about 40 "
        "times cheaper per image than the notebook's network at 227 px.",
        "alexnet_whitened": "The AlexNet family shaped like the fastest CIFAR-10 trainers: a "
        "fixed first layer that whitens 2x2 patches (computed from the data), convolutions "
        "that start as the identity, BatchNorm without scales and a global max-pool head.",
    }[name]
    return Section("The model", why, code, ("model.name", "model.width", "model.dropout"))


def optimization(config: RunConfig) -> Section:
    tc = config.train
    head = "\n".join(
        [
            constant(config, "train.epochs", note="at most; early stopping may end sooner"),
            constant(config, "train.label_smoothing"),
            constant(config, "train.lr", note="the peak" if tc.schedule == "onecycle" else ""),
            constant(config, "train.weight_decay"),
        ]
    )
    parts = [
        head,
        "criterion = nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)",
        "trainable = [p for p in model.parameters() if p.requires_grad]",
    ]
    if tc.optimizer == "adam":
        parts.append("optimizer = torch.optim.Adam(trainable, lr=LR, weight_decay=WEIGHT_DECAY)")
    else:
        parts.append(
            code_block(
                """
                SGD_MOMENTUM = $momentum
                # BatchNorm shifts learn BN_LR_SCALE times faster, their weight decay divided
                # alike: with BatchNorm scales frozen, the shifts are what moves the activations.
                BN_LR_SCALE = $scale
                norm = {
                    id(p)
                    for m in model.modules()
                    if isinstance(m, nn.modules.batchnorm._BatchNorm)
                    for p in m.parameters()
                }
                groups = [
                    {"params": [p for p in trainable if id(p) not in norm]},
                    {
                        "params": [p for p in trainable if id(p) in norm],
                        "lr": LR * BN_LR_SCALE,
                        "weight_decay": WEIGHT_DECAY / BN_LR_SCALE,
                    },
                ]
                optimizer = torch.optim.SGD(
                    [g for g in groups if g["params"]],
                    lr=LR,
                    momentum=SGD_MOMENTUM,
                    nesterov=True,
                    weight_decay=WEIGHT_DECAY,
                )
                """,
                momentum=repr(SGD_MOMENTUM),
                scale=repr(BN_LR_SCALE),
            )
        )
    if tc.schedule == "onecycle":
        parts.append(
            code_block(
                """
                # One cycle: the rate climbs linearly to LR over the first quarter of the steps,
                # then falls linearly to zero at the last one.
                total_steps = EPOCHS * len(train_loader)
                warmup = max(1, round(0.25 * total_steps))


                def one_cycle(step):
                    if step < warmup:
                        return (step + 1) / warmup
                    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


                scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, one_cycle)
                """
            )
        )
    if tc.optimizer == "adam":
        why = "Adam adapts the step of every weight to the size of its recent gradients"
    else:
        why = (
            "SGD with Nesterov momentum at a high rate, as the fastest CIFAR-10 trainers use, "
            "with BatchNorm shifts learning faster than the other weights"
        )
    why += (
        "; cross-entropy is the loss of a classifier that outputs one score per class."
        if tc.schedule == "constant"
        else "; the one-cycle schedule warms the rate up, then lowers it to zero, which learns "
        "more in few epochs."
    )
    return Section(
        "Loss, optimizer and learning-rate schedule",
        why,
        "\n\n".join(parts),
        (
            "train.epochs",
            "train.label_smoothing",
            "train.lr",
            "train.optimizer",
            "train.weight_decay",
            "train.schedule",
        ),
    )


def evaluation(config: RunConfig) -> Section:
    code = code_block(
        '''
        $tta


        def evaluate(loader):
            """Mean cross-entropy and accuracy over ``loader``, with no gradients and no label
            smoothing; with TTA_FLIP each image's scores are averaged with its mirror image's."""
            model.eval()
            loss_sum, correct, seen = 0.0, 0, 0
            with torch.no_grad():
                for x, y in loader:
                    x, y = x.to(device), y.to(device)
                    with autocast():
                        logits = model(x).float()
                        if TTA_FLIP:
                            logits = (logits + model(x.flip(3)).float()) / 2
                    loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
                    correct += (logits.argmax(dim=1) == y).sum().item()
                    seen += len(y)
            model.train()
            return loss_sum / seen, correct / seen
        ''',
        tta=constant(config, "train.tta_flip"),
    )
    why = (
        "Scoring switches the network to evaluation mode (dropout off, BatchNorm with its "
        "running statistics) and counts the images it gets right."
    )
    return Section("Evaluation", why, code, ("train.tta_flip",))


def training(config: RunConfig) -> Section:
    tc = config.train
    head = [
        constant(config, "train.patience", note="stop after this many epochs without a new best"),
        constant(config, "train.min_delta"),
        constant(config, "train.monitor"),
        constant(config, "train.eval_test", note="scored anyway when MONITOR is a test score"),
        constant(config, "train.checkpoint_every_s", note="the lab also writes last.pt this "
                 "often to resume a killed run; this script keeps best.pt only"),
        constant(config, "train.sync_bn", note="under torchrun only; this script trains in "
                 "one process"),
    ]  # fmt: skip
    resize_step = resize_batch = ""
    if applies(config, "progressive_from"):
        head.append(constant(config, "train.progressive_from", note="0: the full size throughout"))
        resize_step = code_block(
            '''
            def epoch_image_size(epoch, full):
                """Progressive resizing: the first epoch trains on PROGRESSIVE_FROM px images,
                growing evenly to the full size in the last (scoring always uses the full size)."""
                start = PROGRESSIVE_FROM
                if not start or start >= full or EPOCHS == 1:
                    return full
                return round(start + (full - start) * (epoch - 1) / (EPOCHS - 1))
            '''
        )
        resize_batch = code_block(
            """
            side = epoch_image_size(epoch, x.shape[-2])
            if side != x.shape[-2]:
                size = (side, round(x.shape[-1] * side / x.shape[-2]))
                x = F.interpolate(x, size=size, mode="bilinear", antialias=True)
            """
        )
    definitions = [lab_source(epoch_lines, name) for name in ("epoch_line", "saved_line")]
    loop = code_block(
        """
        maximize = MONITOR.endswith("_acc")
        best, best_epoch, counter = None, 0, 0
        for epoch in range(1, EPOCHS + 1):
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for x, y in train_loader:
                x, y = x.to(device), y.to(device)
        $resize_batch
                with autocast():
                    logits = model(x)
                    loss = criterion(logits.float(), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        $schedule_step
                loss_sum += loss.item() * len(y)
                correct += (logits.argmax(dim=1) == y).sum().item()
                seen += len(y)
            row = {"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen}
            row.update(val_loss=None, val_acc=None, test_loss=None, test_acc=None)
            if val_loader is not None:
                row["val_loss"], row["val_acc"] = evaluate(val_loader)
            if EVAL_TEST or MONITOR.startswith("test_"):
                row["test_loss"], row["test_acc"] = evaluate(test_loader)
            print(epoch_line(row), flush=True)
            # Early stopping and model checkpoint: a new best beats the best so far by more
            # than MIN_DELTA; the run stops once PATIENCE epochs in a row brought none.
            value = row[MONITOR]
            improved = best is None or (
                value > best + MIN_DELTA if maximize else value < best - MIN_DELTA
            )
            if improved:
                best, best_epoch, counter = value, epoch, 0
                torch.save(model.state_dict(), "best.pt")
                print(saved_line(value), flush=True)
            else:
                counter += 1
                if counter > PATIENCE:
                    print(f"early stop: {counter} epochs without a new best (patience {PATIENCE})")
                    break
        """,
        resize_batch=indent(resize_batch, " " * 8),
        schedule_step="        scheduler.step()" if tc.schedule == "onecycle" else "",
    )
    # An empty slot leaves an empty line behind; the loop has none of its own.
    loop = "\n".join(line for line in loop.split("\n") if line)
    code = "\n\n\n".join(["\n".join(head), *definitions, *filter(None, [resize_step]), loop])
    why = (
        "Each epoch trains on every training image once, then scores the held-out images and "
        f"prints the notebook's line. The weights of the best epoch by `{tc.monitor}` are kept "
        "in best.pt, and training stops early once that score stops improving."
    )
    if tc.monitor.startswith("test_"):
        why += (
            " Watching a test score, as the notebook did, picks the model on the images it is "
            "then scored on: the test score comes out optimistic."
        )
    settings = tuple(
        f"train.{name}"
        for name in (
            "patience",
            "min_delta",
            "monitor",
            "eval_test",
            "checkpoint_every_s",
            "sync_bn",
            "progressive_from",
        )
    )
    return Section("Training with early stopping and checkpointing", why, code, settings)


def testing(config: RunConfig) -> Section:
    code = code_block(
        """
        model.load_state_dict(torch.load("best.pt", weights_only=True))
        test_loss, test_acc = evaluate(test_loader)
        print(f"best epoch {best_epoch}: test accuracy {test_acc:.4f}")
        """
    )
    why = (
        "The best epoch's weights are loaded back from best.pt and scored once on the test "
        "images: the figure to report."
    )
    return Section("Testing the best model", why, code)


# The steps of a script, in order.


TRAIN_STEPS = (model, optimization, evaluation, training, testing)
