"""Train: a preset and its main settings, Start/Pause/Resume/Stop, and the run's live charts.

Two expanders read the chosen network (layer table) and run a learning-rate range test.
Training runs in a background job of the job manager, so it keeps going across reruns and page
switches; this page only polls it (every 1.5 s while it is active)."""

import streamlit as st

from lab import jobs
from lab.config import MODEL_NAMES, MONITORS
from lab.presets import PRESET_NAMES
from ui import insight_view, state, training
from ui.cache import inference_device, job_manager
from ui.data import require_dataset

# Seconds between two redraws of the live view while a job is active.
POLL_S = 1.5

st.title("Train", anchor=False)
dataset = require_dataset("train a model")
if dataset is None:
    st.stop()
snap = training.current_snapshot()
active = snap is not None and snap.active
locked = {"disabled": active, "help": "Locked while the run is active"} if active else {}

with st.container(border=True):
    c = st.columns(4)
    c[0].selectbox(
        "Preset",
        PRESET_NAMES,
        key=state.TRAIN_PRESET,
        on_change=state.apply_preset,
        help="notebook: the course's AlexNet at 227 px, exactly as the notebook trained it. "
        "cpu-fast: an AlexNet-family network at the native 32 px, minutes on a CPU. "
        "Choosing one sets every control below.",
        disabled=active,
    )
    model = c[1].selectbox("Model", MODEL_NAMES, key=state.TRAIN_MODEL, **locked)
    c[2].select_slider(
        "Width (alexnet_cifar)",
        state.WIDTHS,
        key=state.TRAIN_WIDTH,
        disabled=active or model != "alexnet_cifar",
    )
    c[3].text_input("Run name", key=state.TRAIN_RUN_NAME, placeholder="automatic", **locked)
    c = st.columns(4)
    c[0].select_slider(
        "Learning rate", state.LR_CHOICES, key=state.TRAIN_LR, format_func="{:g}".format, **locked
    )
    c[1].slider("Epochs", 1, 100, key=state.TRAIN_EPOCHS, **locked)
    c[2].select_slider("Batch size", state.BATCH_SIZES, key=state.TRAIN_BATCH_SIZE, **locked)
    training.show_setting_error(c[2], "batch_size")
    c[3].slider("Validation fraction", 0.0, 0.5, step=0.05, key=state.TRAIN_VAL_FRACTION, **locked)
    training.show_setting_error(c[3], "val_fraction")
    c = st.columns(4)
    c[0].selectbox("Early stopping watches", MONITORS, key=state.TRAIN_MONITOR, **locked)
    training.show_setting_error(c[0], "monitor")
    c[1].slider("Patience (epochs)", 0, 30, key=state.TRAIN_PATIENCE, **locked)
    c[2].number_input(
        "Min delta", 0.0, 1.0, step=0.001, format="%.4f", key=state.TRAIN_MIN_DELTA, **locked
    )
    c[3].number_input("Seed", 0, 2**31 - 1, key=state.TRAIN_SEED, **locked)
    c = st.columns([1, 3], vertical_alignment="bottom")
    c[0].number_input(
        "Training images (0 = all)",
        0,
        len(dataset.train),
        step=500,
        key=state.TRAIN_SUBSET,
        **locked,
    )
    training.show_setting_error(c[0], "subset")
    if model == "alexnet" and inference_device().type == "cpu":
        c[1].caption(
            ":material/warning: alexnet sees 227 px images: on a CPU an epoch of the full data "
            "takes hours. cpu-fast, or a few thousand training images, keeps it to minutes."
        )
    augment = state.train_augment()
    if augment is None:
        c[1].caption("Augmentation: the preset's. Tune one on the Augmentations page.")
    else:
        c[1].caption("Augmentation: the one made on the Augmentations page.")
        c[1].button("Use the preset's augmentation", on_click=state.set_train_augment, args=(None,))

with st.expander("Model anatomy: layers, output shapes, parameters and FLOPs"):
    insight_view.anatomy(model, state.train_values()["width"], len(dataset.classes))
with st.expander("Learning-rate finder"):
    insight_view.lr_finder(
        state.train_values(), state.data_source(), augment, dataset, inference_device(), active
    )

b = st.columns([1, 1, 1, 1, 3])
b[0].button(
    "Start",
    type="primary",
    icon=":material/play_arrow:",
    on_click=training.start,
    disabled=active,
    width="stretch",
)
b[1].button(
    "Pause",
    icon=":material/pause:",
    on_click=training.pause,
    disabled=not (snap and snap.state in (jobs.RUNNING, jobs.QUEUED)),
    width="stretch",
)
b[2].button(
    "Resume",
    icon=":material/resume:",
    on_click=training.resume,
    disabled=not (snap and snap.resumable),
    width="stretch",
)
b[3].button(
    "Stop", icon=":material/stop:", on_click=training.stop, disabled=not active, width="stretch"
)
if state.train_error() and state.train_error_setting() is None:
    st.error(state.train_error(), icon=":material/error:")

if snap is None:
    others = [job for job in job_manager().jobs() if job.active]
    st.info("Set up a run and press **Start**. It trains in the background: you can switch pages.")
    for job in others:
        st.button(
            f"Watch {job.run_name} ({job.state})", on_click=training.watch, args=(job.job_id,)
        )
    st.stop()


@st.fragment(run_every=POLL_S if active else None)
def live_view(rendered_active: bool) -> None:
    latest = training.current_snapshot()
    training.render_live(latest)
    if latest.active != rendered_active:
        st.rerun()  # started or ended: redraw the controls and the summary


live_view(active)
if not active:
    training.render_outcome(snap)
