"""Classify: upload images (or draw a random test image) and see each one's top-5 classes and
the input exactly as the network sees it, a Grad-CAM overlay and a plain hint when the model is
unsure, with a run's checkpoint or an uploaded one."""

import streamlit as st

from lab.errors import LabError
from lab.predict import MAX_FILE_BYTES, MAX_PIXELS
from lab.runs import list_runs
from ui import classify_view, insight_view, runs_view, state
from ui.cache import inference_model
from ui.data import require_dataset

IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]

st.title("Classify", anchor=False)
upload_mb = st.get_option("server.maxUploadSize")
found = list_runs(state.runs_dir())
names = [run.name for run in found]

source = st.segmented_control(
    "Checkpoint",
    ("runs", "upload"),
    format_func={"runs": "From a run", "upload": "Upload a .pt / .pth file"}.get,
    key=state.CLS_SOURCE,
    required=True,
)
checkpoint = None
if source == "runs":
    if not found:
        st.info(
            f"No runs in `{state.runs_dir()}` yet: train one on the Train page (or with "
            "`cifar-lab train`), or upload a checkpoint file, such as the notebook's alex_net.pth."
        )
        st.page_link(
            "app_pages/3_train.py", label="Go to the Train page", icon=":material/model_training:"
        )
        st.stop()
    state.ensure_choice(state.CLS_RUN, names, runs_view.best_run(found))
    name = st.selectbox("Run (default: best validation accuracy)", names, key=state.CLS_RUN)
    checkpoint = runs_view.checkpoint_file(found[names.index(name)])
else:
    upload = st.file_uploader(
        f"Checkpoint (.pt / .pth, up to {upload_mb} MB): a run's best.pt or a notebook's "
        "bare state_dict",
        type=["pt", "pth"],
        key=state.CLS_CHECKPOINT_UPLOAD,
    )
    if upload is None:
        st.stop()
    checkpoint = classify_view.stored_upload(upload.name, upload.getvalue())
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
    key=state.CLS_IMAGES,
)
target = insight_view.cam_target(loaded)
draw = st.button("Random test image", icon=":material/casino:")
if draw:
    dataset = require_dataset("draw a random test image")
    if dataset is not None:
        state.set_random_test_index(classify_view.random_test_image(dataset))

uploads = [(file.name, file.getvalue()) for file in files or []]
for result in classify_view.classify_uploads(loaded, uploads):
    st.divider()
    classify_view.render(result)
    if result.prediction is not None:
        probabilities = result.prediction.all_probabilities
        insight_view.explain_prediction(checkpoint, loaded, result.image, probabilities, target)

index = state.random_test_index()
dataset = require_dataset("draw a random test image") if index is not None else None
if dataset is not None and index < len(dataset.test):
    image, true_label = classify_view.test_image(dataset, index)
    (result,) = classify_view.classify(loaded, [(f"test image {index}", image)])
    st.divider()
    classify_view.render(result, true_label)
    probabilities = result.prediction.all_probabilities
    insight_view.explain_prediction(checkpoint, loaded, image, probabilities, target)
