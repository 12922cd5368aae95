"""The steps of a generated script, in the course notebook's order: one function per step, each
returning its ``Section`` for a run config.

Every setting a step expresses is written once, as a named constant at the top of its section
(``constant``), and the code below reads it; a transform a setting turns off stays in place as
a commented-out line, so the recipe shows what it leaves out. The models and the epoch lines are
the lab's own source (``lab_source``); the optimizer, the schedule, the split and the statistics
are written out in plain PyTorch, and the tests check them against the lab's.
"""

from __future__ import annotations

from string import Template
from textwrap import dedent, indent

from lab import epoch_lines, models
from lab.codegen.section import Section, constant, lab_source, literal
from lab.config import CIFAR10_SOURCE, SETTINGS, RunConfig
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


def _code(template: str, **values: str) -> str:
    """A section's code from an indented template with ``$name`` slots."""
    return Template(dedent(template).strip("\n")).substitute(values)


def _applies(config: RunConfig, key: str) -> bool:
    return SETTINGS[key].applies_to(config.model.name)


def libraries(config: RunConfig) -> Section:
    code = _code(
        '''
        import os$counter

        import numpy as np
        import torch
        import torch.nn.functional as F
        from PIL import Image
        from sklearn.model_selection import train_test_split
        from torch import nn
        from torch.utils.data import DataLoader, Dataset
        from torchvision import datasets, transforms

        $seed
        $precision

        torch.manual_seed(SEED)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        # "auto" takes 16-bit bfloat16 maths only where the hardware runs it fast: on most CPUs
        # it is slower than 32-bit.
        precision = PRECISION
        if precision == "auto":
            if device.type == "cuda":
                fast_bf16 = torch.cuda.is_bf16_supported()
            else:
                fast_bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
            precision = "bf16" if fast_bf16 else "fp32"
        print(f"training on {device} in {precision}")


        def autocast():
            """bfloat16 maths under "bf16" precision, plain float32 otherwise."""
            return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
        ''',
        counter="\nfrom collections import Counter" if _is_folder(config) else "",
        seed=constant(config, "train.seed", note="the weights, the order of the images and "
                      "the augmentation repeat from run to run"),
        precision=constant(config, "train.precision", note="auto, fp32 or bf16"),
    )  # fmt: skip
    return Section(
        "Libraries, seed and device",
        "PyTorch builds and trains the network, torchvision reads and transforms the images, "
        "NumPy holds them, and scikit-learn splits them class by class. One seed makes the run "
        "repeatable; the GPU is used when there is one.",
        code,
        ("train.seed", "train.precision"),
    )


def _is_folder(config: RunConfig) -> bool:
    return config.data.source.strip().lower() != CIFAR10_SOURCE


def data(config: RunConfig) -> Section:
    if not _is_folder(config):
        code = _code(
            """
            # Set CIFAR_DATA to keep the download elsewhere.
            DATA = os.environ.get("CIFAR_DATA", $folder)

            train_data = datasets.CIFAR10(root=DATA, train=True, download=True)
            test_data = datasets.CIFAR10(root=DATA, train=False, download=True)
            train_images, train_labels = train_data.data, np.array(train_data.targets)
            test_images, test_labels = test_data.data, np.array(test_data.targets)
            classes = train_data.classes
            print(f"{len(train_images)} training and {len(test_images)} test images")
            """,
            folder=literal(CIFAR10_FOLDER),
        )
        why = (
            "torchvision downloads CIFAR-10 on first use and keeps its 60,000 images in memory "
            "as one uint8 array, `(N, 32, 32, 3)`, with a label per image."
        )
        return Section("The data", why, code, ("data.source",))
    code = _code(
        '''
        # Set CIFAR_DATA to train on another folder laid out the same way.
        DATA = os.environ.get("CIFAR_DATA", $folder)


        def read_split(split):
            """Every image of DATA/<split>/<class>/* as one uint8 array (N, H, W, 3), with its
            labels and the class names (the sorted folder names)."""
            folder = datasets.ImageFolder(os.path.join(DATA, split))
            arrays = [np.asarray(folder.loader(path)) for path, _ in folder.samples]
            # Images of another size are resized to the most common one, so that all stack.
            height, width = Counter(a.shape[:2] for a in arrays).most_common(1)[0][0]
            for i, a in enumerate(arrays):
                if a.shape[:2] != (height, width):
                    image = Image.fromarray(a).resize((width, height), Image.Resampling.BILINEAR)
                    arrays[i] = np.asarray(image)
            return np.stack(arrays), np.array(folder.targets), folder.classes


        train_images, train_labels, classes = read_split("train")
        test_images, test_labels, _ = read_split("test")
        print(f"{len(train_images)} training and {len(test_images)} test images of {classes}")
        ''',
        folder=literal(config.data.source),
    )
    why = (
        "An image folder with one subfolder per class in `train/` and in `test/`, read once "
        "into memory as torchvision's CIFAR10 keeps its images: one uint8 array "
        "`(N, H, W, 3)` and a label per image, so no epoch decodes a file again."
    )
    return Section("The data", why, code, ("data.source",))


def statistics(config: RunConfig) -> Section:
    code = _code(
        """
        def channel_stats(images, chunk=2048):
            # float64 sums over chunks: the same result as one float batch of every image,
            # in a fraction of the memory.
            total, total_sq = np.zeros(3), np.zeros(3)
            for start in range(0, len(images), chunk):
                block = images[start : start + chunk].astype(np.float64) / 255.0
                total += block.sum(axis=(0, 1, 2))
                total_sq += (block * block).sum(axis=(0, 1, 2))
            count = images.shape[0] * images.shape[1] * images.shape[2]
            mean = total / count
            std = np.sqrt((total_sq - count * mean * mean) / (count - 1))
            return mean.tolist(), std.tolist()


        mean, std = channel_stats(train_images)
        print("Mean:", mean)
        print("Std:", std)
        """
    )
    why = (
        "`Normalize` shifts and scales each colour channel by the mean and standard deviation "
        "of the training images (pixels in [0, 1]), so every channel reaches the network "
        "centred and with unit spread. They are computed from all the training images."
    )
    return Section("Mean and standard deviation", why, code)


def split(config: RunConfig) -> Section:
    code = _code(
        '''
        $subset
        $fraction
        $seed


        def stratified_pick(labels, count, seed):
            """Indices of ``count`` images with every class's share kept, and of the rest."""
            picked, rest = train_test_split(
                np.arange(len(labels)), train_size=count, stratify=labels, random_state=seed
            )
            return np.sort(picked), np.sort(rest)


        train_index = np.arange(len(train_labels))
        if SUBSET is not None and SUBSET < len(train_index):
            train_index, _ = stratified_pick(train_labels, SUBSET, SPLIT_SEED)
        val_index = None
        if VAL_FRACTION > 0:
            n_val = max(len(classes), round(len(train_index) * VAL_FRACTION))
            kept, held_out = stratified_pick(
                train_labels[train_index], len(train_index) - n_val, SPLIT_SEED + 1
            )
            train_index, val_index = train_index[kept], train_index[held_out]
        held = 0 if val_index is None else len(val_index)
        print(f"{len(train_index)} images to train on, {held} held out for validation")
        ''',
        subset=constant(config, "data.subset", note="None trains on all of them"),
        fraction=constant(config, "data.val_fraction"),
        seed=constant(config, "data.seed", "SPLIT_SEED", note="the same images every time"),
    )
    why = (
        "A share of each class's training images is held back: the best epoch is picked, and "
        "training stopped, on images the network never trains on, so the test images stay "
        "unseen until the end."
    )
    if config.data.val_fraction == 0:
        why += (
            " This recipe holds none back, as the notebook did, so it picks its best epoch on "
            "the test images, which makes the test score optimistic."
        )
    settings = ("data.subset", "data.val_fraction", "data.seed")
    return Section("Training and validation images", why, code, settings)


def _step(line: str, on: bool, off_because: str) -> str:
    """One transform of a Compose list: the line itself, or commented out when it is off."""
    return f"    {line}," if on else f"    # {line},  (off: {off_because})"


def augmentation(config: RunConfig) -> Section:
    aug = config.augment
    resize = "transforms.Resize((RESIZE, RESIZE))"
    normalize = "transforms.Normalize(mean, std)"
    train_steps = [
        _step("transforms.RandomCrop(image_size, padding=TRANSLATE)", aug.translate > 0,
              "TRANSLATE is 0"),
        _step(resize, aug.resize is not None, "RESIZE is None"),
        _step("transforms.RandomHorizontalFlip(HFLIP_P)", aug.hflip_p > 0, "HFLIP_P is 0"),
        _step("transforms.RandomRotation(ROTATION, fill=ROTATION_FILL)", aug.rotation > 0,
              "ROTATION is 0"),
        *(
            _step(f"transforms.ColorJitter({name}={name.upper()})", value > 0,
                  f"{name.upper()} is 0")
            for name, value in (
                ("brightness", aug.brightness),
                ("contrast", aug.contrast),
                ("saturation", aug.saturation),
            )
        ),
        "    transforms.ToTensor(),",
        _step(normalize, aug.normalize, "NORMALIZE is False"),
        _step("transforms.RandomErasing(ERASE_P, value=0)", aug.erase_p > 0, "ERASE_P is 0"),
    ]  # fmt: skip
    test_steps = [
        _step(resize, aug.resize is not None, "RESIZE is None"),
        "    transforms.ToTensor(),",
        _step(normalize, aug.normalize, "NORMALIZE is False"),
    ]
    names = {
        "augment.resize": ("RESIZE", "None keeps the images' own size"),
        "augment.hflip_p": ("HFLIP_P", ""),
        "augment.rotation": ("ROTATION", "either way"),
        "augment.rotation_fill": ("ROTATION_FILL", "0 black to 255 white"),
        "augment.translate": ("TRANSLATE", "padded this much, then cropped back"),
        "augment.brightness": ("BRIGHTNESS", ""),
        "augment.contrast": ("CONTRAST", ""),
        "augment.saturation": ("SATURATION", ""),
        "augment.erase_p": ("ERASE_P", ""),
        "augment.normalize": ("NORMALIZE", ""),
    }
    constants = "\n".join(
        constant(config, path, name, note) for path, (name, note) in names.items()
    )
    code = _code(
        """
        $constants

        image_size = train_images.shape[1:3]
        # The lab augments whole batches at once on the training device (its fast pipeline);
        # here the same transforms are written in their simpler per-image torchvision form.
        train_transform = transforms.Compose([
        $train_steps
        ])
        # Scoring sees every image as it is: resized and normalised only.
        test_transform = transforms.Compose([
        $test_steps
        ])
        """,
        constants=constants,
        train_steps="\n".join(train_steps),
        test_steps="\n".join(test_steps),
    )
    why = (
        "Each training image is changed at random every time it is seen (flipped, shifted, "
        "rotated ...), so the network learns what a class looks like rather than the pixels "
        "of the images it has. The order is the lab's: shift, resize, flip, rotate, colour, "
        "then the tensor, its normalisation and random erasing."
    )
    return Section("Augmentation", why, code, tuple(names))


def loaders(config: RunConfig) -> Section:
    code = _code(
        '''
        $batch
        $eval_batch
        $pipeline
        # Processes that prepare batches beside training; on macOS and Windows more than 0 needs
        # the training code under `if __name__ == "__main__":`.
        WORKERS = 0


        class Images(Dataset):
            """Images of a uint8 array as PIL images, through a per-image transform."""

            def __init__(self, images, labels, transform):
                self.images, self.labels, self.transform = images, labels, transform

            def __len__(self):
                return len(self.labels)

            def __getitem__(self, i):
                return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


        train_set = Images(train_images[train_index], train_labels[train_index], train_transform)
        # A last batch of a single image is dropped: BatchNorm cannot train on one image.
        train_loader = DataLoader(
            train_set,
            batch_size=BATCH_SIZE,
            shuffle=True,
            drop_last=len(train_set) % BATCH_SIZE == 1,
            num_workers=WORKERS,
        )
        val_loader = None
        if val_index is not None:
            val_set = Images(train_images[val_index], train_labels[val_index], test_transform)
            val_loader = DataLoader(val_set, batch_size=EVAL_BATCH_SIZE, num_workers=WORKERS)
        test_set = Images(test_images, test_labels, test_transform)
        test_loader = DataLoader(test_set, batch_size=EVAL_BATCH_SIZE, num_workers=WORKERS)
        ''',
        batch=constant(config, "train.batch_size"),
        eval_batch=constant(config, "train.eval_batch_size", note="only memory depends on it"),
        pipeline=constant(
            config, "train.pipeline",
            note="how the lab feeds batches: 'fast' augments whole batches on the training "
            "device, 'reference' image by image, as this script does",
        ),
    )  # fmt: skip
    why = (
        f"Training takes the images in shuffled batches of {config.train.batch_size}: each "
        "batch is one weight update. Scoring takes bigger batches in order, since it keeps no "
        "gradients."
    )
    return Section(
        "Data loaders", why, code, ("train.batch_size", "train.eval_batch_size", "train.pipeline")
    )


def model(config: RunConfig) -> Section:
    name = config.model.name
    constants = "\n".join(lab_source(models, part) for part in MODEL_CONSTANTS.get(name, ()))
    parts = [lab_source(models, part) for part in MODEL_PARTS[name]]
    source = "\n\n\n".join([constants, *parts] if constants else parts)
    width = _applies(config, "width")
    settings = [constant(config, "model.dropout")]
    if width:
        settings.insert(0, constant(config, "model.width", note="a multiple of every layer's"))
    arguments = "num_classes=len(classes)" + (", width=WIDTH" if width else "")
    build = f"model = {MODEL_CLASSES[name]}({arguments}, dropout=DROPOUT).to(device)"
    if name == "alexnet_whitened":
        build = _code(
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
            _code(
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
            _code(
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
    code = _code(
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
    if _applies(config, "progressive_from"):
        head.append(constant(config, "train.progressive_from", note="0: the full size throughout"))
        resize_step = _code(
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
        resize_batch = _code(
            """
            side = epoch_image_size(epoch, x.shape[-2])
            if side != x.shape[-2]:
                size = (side, round(x.shape[-1] * side / x.shape[-2]))
                x = F.interpolate(x, size=size, mode="bilinear", antialias=True)
            """
        )
    definitions = [lab_source(epoch_lines, name) for name in ("epoch_line", "saved_line")]
    loop = _code(
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
    code = _code(
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
STEPS = (
    libraries,
    data,
    statistics,
    split,
    augmentation,
    loaders,
    model,
    optimization,
    evaluation,
    training,
    testing,
)
