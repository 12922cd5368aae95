"""The data steps of a generated script, in the course notebook's order: the libraries, the
data, its statistics, the split, the augmentation and the loaders; each a function that returns
its ``Section`` for a run config (``lab.codegen.train_steps`` has the rest).

Every setting a step expresses is written once, as a named constant at the top of its section
(``constant``), and the code below reads it; a transform a setting turns off stays in place as
a commented-out line, so the recipe shows what it leaves out. The split and the statistics are
written out in plain NumPy and scikit-learn, and the tests check them against the lab's.
"""

from __future__ import annotations

from lab.codegen.section import Section, code_block, constant, literal
from lab.config import CIFAR10_SOURCE, RunConfig

CIFAR10_FOLDER = "./dataset"


def libraries(config: RunConfig) -> Section:
    code = code_block(
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
        code = code_block(
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
    code = code_block(
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
    code = code_block(
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
    code = code_block(
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
    code = code_block(
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
    code = code_block(
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


DATA_STEPS = (libraries, data, statistics, split, augmentation, loaders)
