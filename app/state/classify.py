"""The Classify page's state: whether the camera is on, which checkpoint (a run's or an
upload), the class Grad-CAM explains, and the random test image drawn, if any."""

from __future__ import annotations

from app.state.store import Store

PICKS = Store(
    "cls",
    lambda: {
        "camera": False,
        "source": "runs",  # "runs" or "upload"
        "run": None,
        "cam_target": "",  # "" = the predicted class
        "test_index": None,
    },
)
# File uploaders and the camera hold files, not settings: their keys only name them.
CHECKPOINT_UPLOAD = PICKS.key("checkpoint_upload")
IMAGES_UPLOAD = PICKS.key("images")
CAMERA = PICKS.key("photo")
