"""Augmentations: every transform's switch and settings, K random draws per image with the
parameters each used, the config as JSON, and handing it to the Train page."""

import streamlit as st

from app import nav
from app.data import require_dataset
from app.images import inline_png
from app.state import augment
from app.state import train as train_state
from app.state.augment import CONTROLS
from app.views import augmentations as view
from app.widgets import UPLOAD_LIMIT_MB, error_box, image_uploader, redraw_button
from lab.data import CIFAR10_MEAN, CIFAR10_STD

st.title("Augmentations", anchor=False)
controls, preview = st.columns([1, 2], gap="large")

with controls, st.container(border=True):
    st.markdown("**Transforms**, in the order they are applied")
    view.transform_controls()
config = augment.config()

with preview:
    pick = st.segmented_control(
        "Images",
        ("random", "class", "upload"),
        format_func={"random": "Random", "class": "By class", "upload": "Upload"}.get,
        required=True,
        **CONTROLS.widget("pick"),
    )
    left, middle, right = st.columns([4, 4, 3], vertical_alignment="bottom")
    count = left.slider("Images", 1, 4, **CONTROLS.widget("images"))
    draws = middle.slider("Random draws per image (K)", 1, 12, **CONTROLS.widget("draws"))
    redraw_button(right, "Redraw", ":material/casino:", CONTROLS, "New random images and draws")
    show_tensor = st.toggle(
        "Show the normalised tensor (0 = grey, ±2.5 std = white/black)",
        disabled=not config.normalize,
        **CONTROLS.widget("show_tensor"),
    )
    seed = CONTROLS["seed"]
    mean, std = CIFAR10_MEAN, CIFAR10_STD
    errors: list[str] = []
    if pick == "upload":
        files = image_uploader(st, "Images to augment", CONTROLS.key("uploads"))
        sources, errors = view.uploaded_images(files)
        st.caption("Normalised with the official CIFAR-10 statistics.")
    else:
        dataset = require_dataset("draw images to augment (or choose Upload)")
        if dataset is None:
            st.stop()
        class_name = None
        if pick == "class":
            CONTROLS.ensure_choice("class", dataset.classes)
            class_name = st.selectbox("Class", dataset.classes, **CONTROLS.widget("class"))
        sources = view.dataset_images(dataset, count, seed, class_name)
        mean, std = dataset.mean, dataset.std
    for message in errors:
        error_box(st, message)
    for row, source in enumerate(sources):
        st.markdown(f"**{source.title}**")
        cells = view.draws(source, config, draws, seed * 100 + row, mean, std, show_tensor)
        columns = st.columns(min(draws + 1, 7))
        columns[0].image(inline_png(view.original(source)))
        view.caption(columns[0], "original", "the image before any transform")
        for index, (picture, caption, details) in enumerate(cells, start=1):
            column = columns[index % len(columns)]
            column.image(inline_png(picture))
            view.caption(column, caption, details)

st.subheader("Configuration", anchor=False)
code, actions = st.columns([2, 1])
code.code(config.to_json(), language="json")
with actions:
    # Built only when clicked: a file built on every run is replaced by the next rerun (each
    # step of a slider), which can remove it while the browser is still fetching it.
    st.download_button(
        "Download JSON",
        config.to_json,
        file_name="augmentation.json",
        mime="application/json",
        icon=":material/download:",
        on_click="ignore",
    )
    st.file_uploader(
        "Load a JSON config",
        type=["json"],
        key=view.JSON_UPLOAD,
        on_change=view.load_json_upload,
        max_upload_size=UPLOAD_LIMIT_MB,
    )
    message = augment.message()
    if message and message[0] == "error":
        error_box(st, message[1])
    elif message:
        st.success(message[1])
    in_use = train_state.augment() == config
    if st.button(
        "Train with this augmentation",
        type="primary",
        icon=":material/model_training:",
        help="Hands these settings to the Train page's form and opens it",
        disabled=in_use,
    ):
        train_state.set_augment(config)
        nav.switch_to(nav.TRAIN)
    if in_use:
        st.success("The Train page uses this augmentation.", icon=":material/check:")
view.pipeline_code(config)
