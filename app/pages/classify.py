"""Classify: images (uploads, a camera photo, a random test image) first, then a checkpoint (a
run's or an uploaded one), then each image's top-5 classes, the input exactly as the network
sees it, a Grad-CAM overlay and a short hint when the model is unsure.

The images are drawn before anything that can end the page (no runs yet, no checkpoint
uploaded yet), so they stay in their boxes whatever happens to the checkpoint, and the results
below are always those of the images in the boxes: a new checkpoint classifies them again."""

import streamlit as st

from app.cache import inference_model
from app.data import require_dataset
from app.glossary import TERMS
from app.run_choice import best_run, checkpoint_file
from app.state import classify, source
from app.state.classify import PICKS
from app.views import classify as view
from app.widgets import UPLOAD_LIMIT_MB, error_box, image_uploader, no_runs_yet
from lab.errors import LabError
from lab.runs import list_runs

st.title("Classify", anchor=False)

st.subheader("Images", anchor=False)
files = image_uploader(st, "Images to classify", classify.IMAGES_UPLOAD)
camera, draw = st.columns([3, 1], vertical_alignment="center")
photo = None
if camera.toggle("Take a photo with the camera", **PICKS.widget("camera")):
    photo = st.camera_input("Photo", key=classify.CAMERA)
if draw.button("Random test image", icon=":material/casino:", width="stretch"):
    dataset = require_dataset("draw a random test image")
    if dataset is not None:
        PICKS.set("test_index", view.random_test_image(dataset))

st.subheader("Checkpoint", anchor=False)
found = list_runs(source.runs_dir())
names = [run.name for run in found]
origin = st.segmented_control(
    "Checkpoint",
    ("runs", "upload"),
    format_func={"runs": "From a run", "upload": "Upload a .pt / .pth file"}.get,
    required=True,
    label_visibility="collapsed",
    **PICKS.widget("source"),
)
if origin == "runs":
    if not found:
        no_runs_yet(
            source.runs_dir(), ", or upload a checkpoint file (the notebook's alex_net.pth)"
        )
    PICKS.ensure_choice("run", names, best_run(found))
    name = st.selectbox("Run (default: best validation accuracy)", names, **PICKS.widget("run"))
    checkpoint = checkpoint_file(found[names.index(name)])
    shown_as = None
else:
    upload = st.file_uploader(
        "Checkpoint: a run's best.pt or a notebook's bare state_dict",
        type=["pt", "pth"],
        key=classify.CHECKPOINT_UPLOAD,
        max_upload_size=UPLOAD_LIMIT_MB,
    )
    if upload is None:
        st.info("Upload a checkpoint to classify the images.", icon=":material/upload:")
        st.stop()
    checkpoint, shown_as = view.stored_upload(upload.name, upload.getvalue()), upload.name
try:
    loaded = inference_model(checkpoint)
except LabError as error:
    error_box(st, view.checkpoint_problem(error, checkpoint, shown_as))
    st.stop()
st.caption(
    f"{loaded.config.model.name} · {loaded.input_size} px input · classes: "
    f"{', '.join(loaded.classes)}"
)
st.caption(view.flip_averaging(loaded), help=TERMS["TTA (flip averaging)"])
target = view.cam_target(loaded)

pictures = view.uploaded_images([(file.name, file.getvalue()) for file in files])
if photo is not None:
    pictures += view.uploaded_images([("camera photo", photo.getvalue())])
index = PICKS["test_index"]
dataset = require_dataset("draw a random test image") if index is not None else None
if dataset is not None and index < len(dataset.test):
    pictures.append(view.test_image(dataset, index))

if not pictures:
    st.info("Add images above: their classes appear here.", icon=":material/image:")
for result in view.classify(loaded, pictures):
    st.divider()
    view.render(result)
    if result.prediction is not None:
        view.explain_prediction(checkpoint, loaded, result, target)
