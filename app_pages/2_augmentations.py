"""Augmentations: every transform's toggle and sliders, K random draws per image with the
parameters each used, the config as JSON, and handing it to the Train page."""

import streamlit as st

from lab.data import CIFAR10_MEAN, CIFAR10_STD
from ui import augment_view, state
from ui.data import require_dataset

st.title("Augmentations", anchor=False)
controls, preview = st.columns([1, 2], gap="large")

with controls, st.container(border=True):
    st.markdown("**Transforms**, in the order they are applied")
    on = st.toggle("Resize", key=state.AUG_RESIZE_ON)
    st.select_slider("Side (px)", state.RESIZE_CHOICES, key=state.AUG_RESIZE, disabled=not on)
    on = st.toggle("Horizontal flip", key=state.AUG_FLIP_ON)
    st.slider("Flip probability", 0.0, 1.0, step=0.05, key=state.AUG_FLIP_P, disabled=not on)
    on = st.toggle("Rotation", key=state.AUG_ROTATE_ON)
    st.slider("Max angle (°)", 0.0, 180.0, step=1.0, key=state.AUG_ROTATION, disabled=not on)
    st.slider("Corner fill (grey level)", 0, 255, key=state.AUG_ROTATION_FILL, disabled=not on)
    on = st.toggle("Translation (pad and crop)", key=state.AUG_TRANSLATE_ON)
    st.slider("Max offset (px)", 0, 16, key=state.AUG_TRANSLATE, disabled=not on)
    for toggle_key, slider_key, name in (
        (state.AUG_BRIGHTNESS_ON, state.AUG_BRIGHTNESS, "Brightness"),
        (state.AUG_CONTRAST_ON, state.AUG_CONTRAST, "Contrast"),
        (state.AUG_SATURATION_ON, state.AUG_SATURATION, "Saturation"),
    ):
        on = st.toggle(f"{name} jitter", key=toggle_key)
        st.slider(f"{name} strength", 0.0, 1.0, step=0.05, key=slider_key, disabled=not on)
    st.toggle("Normalise with the data's mean and std", key=state.AUG_NORMALIZE)
    on = st.toggle("Random erasing", key=state.AUG_ERASE_ON)
    st.slider("Erase probability", 0.0, 1.0, step=0.05, key=state.AUG_ERASE_P, disabled=not on)
config = state.augment_from_widgets()

with preview:
    pick = st.segmented_control(
        "Images",
        ("random", "class", "upload"),
        format_func={"random": "Random", "class": "By class", "upload": "Upload"}.get,
        key=state.AUG_PICK,
        required=True,
    )
    left, middle, right = st.columns([5, 5, 2], vertical_alignment="bottom")
    count = left.slider("Images", 1, 4, key=state.AUG_IMAGES)
    draws = middle.slider("Random draws per image (K)", 1, 12, key=state.AUG_DRAWS)
    right.button(
        "Redraw",
        icon=":material/casino:",
        on_click=state.next_seed,
        args=(state.AUG_SEED,),
        help="New random images and draws",
        width="stretch",
    )
    show_tensor = st.toggle(
        "Show the normalised tensor (0 = grey, ±2.5 std = white/black)",
        key=state.AUG_SHOW_TENSOR,
        disabled=not config.normalize,
    )
    seed = state.seed_of(state.AUG_SEED)
    mean, std = CIFAR10_MEAN, CIFAR10_STD
    errors: list[str] = []
    if pick == "upload":
        files = st.file_uploader(
            "Images to augment",
            type=["png", "jpg", "jpeg", "webp", "bmp", "gif"],
            accept_multiple_files=True,
            key=state.AUG_UPLOADS,
        )
        sources, errors = augment_view.uploaded_images(files or [])
        st.caption("Normalised with the official CIFAR-10 statistics.")
    else:
        dataset = require_dataset("draw images to augment (or choose Upload)")
        if dataset is None:
            st.stop()
        class_name = None
        if pick == "class":
            state.ensure_choice(state.AUG_CLASS, dataset.classes)
            class_name = st.selectbox("Class", dataset.classes, key=state.AUG_CLASS)
        sources = augment_view.dataset_images(dataset, count, seed, class_name)
        mean, std = dataset.mean, dataset.std
    for message in errors:
        st.error(message)
    for row, source in enumerate(sources):
        st.markdown(f"**{source.title}**")
        cells = augment_view.draws(source, config, draws, seed * 100 + row, mean, std, show_tensor)
        columns = st.columns(min(draws + 1, 7))
        columns[0].image(augment_view.original(source), caption="original")
        for index, (picture, caption) in enumerate(cells, start=1):
            columns[index % len(columns)].image(picture, caption=caption)

st.subheader("Configuration", anchor=False)
code, actions = st.columns([2, 1])
code.code(config.to_json(), language="json")
with actions:
    st.download_button(
        "Download JSON",
        config.to_json(),
        file_name="augmentation.json",
        mime="application/json",
        icon=":material/download:",
    )
    st.file_uploader(
        "Load a JSON config",
        type=["json"],
        key=state.AUG_JSON_UPLOAD,
        on_change=augment_view.load_json_upload,
    )
    message = state.augment_message()
    if message and message[0] == "error":
        st.error(message[1])
    elif message:
        st.success(message[1])
    in_use = state.train_augment() == config
    st.button(
        "Train with this augmentation",
        type="primary",
        icon=":material/model_training:",
        on_click=state.set_train_augment,
        args=(config,),
        disabled=in_use,
    )
    if in_use:
        st.success("The Train page uses this augmentation.", icon=":material/check:")
