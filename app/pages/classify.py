"""Classify: upload images (or draw a random test image) and see each one's top-5 classes and
the input exactly as the network sees it, a Grad-CAM overlay and a plain hint when the model is
unsure, with a run's checkpoint or an uploaded one."""

import streamlit as st

from app.cache import inference_model
from app.data import require_dataset
from app.state import classify, source
from app.state.classify import PICKS
from app.views import checkpoints
from app.views import classify as view
from app.widgets import no_runs_yet
from lab.errors import LabError
from lab.predict import MAX_FILE_BYTES, MAX_PIXELS
from lab.runs import list_runs

IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]

st.title("Classify", anchor=False)
upload_mb = st.get_option("server.maxUploadSize")
found = list_runs(source.runs_dir())
names = [run.name for run in found]

origin = st.segmented_control(
    "Checkpoint",
    ("runs", "upload"),
    format_func={"runs": "From a run", "upload": "Upload a .pt / .pth file"}.get,
    required=True,
    **PICKS.widget("source"),
)
checkpoint = None
if origin == "runs":
    if not found:
        no_runs_yet(
            source.runs_dir(), ", or upload a checkpoint file (the notebook's alex_net.pth)"
        )
    PICKS.ensure_choice("run", names, checkpoints.best_run(found))
    name = st.selectbox("Run (default: best validation accuracy)", names, **PICKS.widget("run"))
    checkpoint = checkpoints.checkpoint_file(found[names.index(name)])
else:
    upload = st.file_uploader(
        f"Checkpoint (.pt / .pth, up to {upload_mb} MB): a run's best.pt or a notebook's "
        "bare state_dict",
        type=["pt", "pth"],
        key=classify.CHECKPOINT_UPLOAD,
    )
    if upload is None:
        st.stop()
    checkpoint = view.stored_upload(upload.name, upload.getvalue())
try:
    loaded = inference_model(checkpoint)
except LabError as error:
    st.error(f"Cannot use this checkpoint: {error}", icon=":material/error:")
    st.stop()
st.caption(
    f"{loaded.config.model.name} · {loaded.input_size} px input · classes: "
    f"{', '.join(loaded.classes)}"
)

files = st.file_uploader(
    f"Images ({', '.join(IMAGE_TYPES)}; up to {min(upload_mb, MAX_FILE_BYTES // 2**20)} MB and "
    f"{MAX_PIXELS // 1_000_000} megapixels each)",
    type=IMAGE_TYPES,
    accept_multiple_files=True,
    key=classify.IMAGES_UPLOAD,
)
target = view.cam_target(loaded)
if st.button("Random test image", icon=":material/casino:"):
    dataset = require_dataset("draw a random test image")
    if dataset is not None:
        PICKS.set("test_index", view.random_test_image(dataset))

uploads = [(file.name, file.getvalue()) for file in files or []]
for result in view.classify_uploads(loaded, uploads):
    st.divider()
    view.render(result)
    if result.prediction is not None:
        probabilities = result.prediction.all_probabilities
        view.explain_prediction(checkpoint, loaded, result.image, probabilities, target)

index = PICKS["test_index"]
dataset = require_dataset("draw a random test image") if index is not None else None
if dataset is not None and index < len(dataset.test):
    image, true_label = view.test_image(dataset, index)
    (result,) = view.classify(loaded, [(f"test image {index}", image)])
    st.divider()
    view.render(result, true_label)
    probabilities = result.prediction.all_probabilities
    view.explain_prediction(checkpoint, loaded, image, probabilities, target)
