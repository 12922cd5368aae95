"""The Inside page's state: the checkpoint looked into (a run and which of its files), the image
(a test image, an upload or a photo), the layer and number of feature maps shown, the channel
whose strongest test images are shown, and the attribution methods shown with the class they
explain."""

from __future__ import annotations

from app.state.store import Store

# Feature maps shown by default, and at most: a grid that fits a screen without scrolling far.
DEFAULT_MAPS = 16
MAX_MAPS = 64

PICKS = Store(
    "inside",
    lambda: {
        "run": None,
        "file": "best.pt",  # "best.pt" or "last.pt"
        "source": "test",  # "test", "upload" or "camera"
        "test_index": None,  # drawn on the first visit that has data
        "layer": None,  # "conv1" ... (the model's convolutions)
        "maps": DEFAULT_MAPS,
        "ranked": (),  # the checkpoints whose test images this session asked to rank
        "target": "",  # "" = the predicted class
        "methods": ["gradcam"],  # the attribution methods shown, keys of METHODS
    },
)
# The channel picked in each layer is kept as "channel_<layer>" ("channel_conv2"), set the first
# time a layer is shown: to the channel strongest on the image then.
# File uploaders and the camera hold pictures, not settings: their keys only name them.
IMAGE_UPLOAD = PICKS.key("image")
CAMERA = PICKS.key("camera")
