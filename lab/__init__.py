"""CIFAR Lab: a UI-free library that runs the CIFAR-10 / AlexNet course pipeline end to end.

Modules: `data` (sources, splits, statistics), `augment` (per-image and batched augmentation),
`models` (the notebook AlexNet and a CIFAR-native variant), `train` (the training engine and
early stopping), `checkpoint` (atomic, versioned checkpoints), `runs` (run folders), `evaluate`
(metrics), `predict` (single-image inference), `presets` (named recipes) and `cli`.
"""

__version__ = "0.1.0"
