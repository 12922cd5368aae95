"""The Train page's two expanders: the chosen model's anatomy (layer table and totals) and the
learning-rate finder."""

from __future__ import annotations

import streamlit as st
import torch

from app import cache, charts
from app.glossary import TERMS
from app.state import train as train_state
from app.state.train import FORM
from app.widgets import error_box, progress_bar
from lab.config import INPUT_SIZES, RESIZE_CHOICES, SETTINGS, RunConfig
from lab.data import Dataset, make_splits
from lab.errors import LabError
from lab.lenses.lr_finder import LrFinderResult, find_lr, format_rate

# The learning-rate finder: steps of the range test, training images it cycles over, and the
# rates it grows through.
LR_FINDER_STEPS = 60
LR_FINDER_IMAGES = 2000
LR_FINDER_RANGE = (1e-7, 10.0)


def anatomy(model: str, width: float, num_classes: int) -> None:
    """The layer table and totals of the chosen model at a chosen input size."""
    own = INPUT_SIZES[model]
    size = st.select_slider(
        "Input size (px)",
        (0, *RESIZE_CHOICES),
        format_func=lambda s: f"its own ({own})" if s == 0 else str(s),
        **FORM.widget("anatomy_size"),
    )
    result = cache.anatomy(
        model, width if SETTINGS["width"].applies_to(model) else 1.0, size or own, num_classes
    )
    if result.problem:
        error_box(st, f"This input cannot work: {result.problem}")
        return
    c = st.columns(3)
    c[0].metric("Parameters", f"{result.params:,}", help=TERMS["parameters"])
    c[1].metric(
        "Weights", f"{result.weights_mb:.1f} MB", help="Memory the parameters take (32-bit)"
    )
    c[2].metric("FLOPs per image", f"{result.flops / 1e6:,.1f} M", help=TERMS["FLOPs"])
    st.dataframe(
        result.layers,
        hide_index=True,
        width="stretch",
        column_config={
            "output_shape": st.column_config.Column(
                help="Channels × height × width of what the layer hands on, for one image"
            ),
            "params": st.column_config.NumberColumn(format="localized", help=TERMS["parameters"]),
            "flops": st.column_config.NumberColumn(format="localized", help=TERMS["FLOPs"]),
        },
    )


def lr_finder(
    config: RunConfig | None,
    problem: LabError | None,
    dataset: Dataset,
    device: torch.device,
    disabled: bool,
) -> None:
    """The learning-rate range test for the run the form describes, on a small subset, with
    a button that moves the Learning rate slider to its suggestion."""
    if config is None:
        st.caption(f"Fix the settings first: {problem}")
        return
    images = min(LR_FINDER_IMAGES, len(dataset.train))
    start_lr, end_lr = LR_FINDER_RANGE
    st.caption(
        f"Trains a fresh {config.model.name} for {LR_FINDER_STEPS} batches of "
        f"{config.train.batch_size} ({images} training images) while the learning rate grows "
        f"from {format_rate(start_lr)} to {format_rate(end_lr)}, and plots the loss. Nothing "
        "is saved."
    )
    # The result depends on everything but the learning rate (the test sets its own).
    settings = config.to_dict()
    settings["train"].pop("lr", None)
    for_what = (repr(settings), images)
    if st.button("Find a learning rate", icon=":material/search:", disabled=disabled):
        try:
            with progress_bar("Range test ...", describe_step) as on_step:
                small = config.with_overrides(data={"subset": images})
                splits = make_splits(dataset, small.data)
                result = find_lr(
                    small,
                    splits,
                    steps=LR_FINDER_STEPS,
                    start_lr=start_lr,
                    end_lr=end_lr,
                    device=device,
                    on_step=on_step,
                )
        except LabError as error:
            error_box(st, error)
            return
        train_state.set_lr_finder_result(for_what, result)
    result: LrFinderResult | None = train_state.lr_finder_result(for_what)
    if result is None:
        return
    st.altair_chart(charts.lr_finder(result), width="stretch")
    st.caption(
        f"{result.reason[0].upper()}{result.reason[1:]}. The plot leaves out the steps after the "
        "loss exploded and stops the loss axis at a few times its lowest value."
    )
    suggestion = result.suggestion
    if suggestion.lr is None:
        st.warning(suggestion.words, icon=":material/search_off:")
        return
    chosen = SETTINGS["lr"].nearest_option(suggestion.lr)
    snapped = (
        f"{format_rate(suggestion.lr)} snapped to {format_rate(chosen)}, the nearest value "
        "of the Learning rate slider"
    )
    st.markdown(
        f"Suggested learning rate: **{format_rate(suggestion.lr)}**. {suggestion.words} "
        f"({snapped}.)"
    )
    low, high = SETTINGS["lr"].control_range()
    if not low <= suggestion.lr <= high:
        st.warning(
            f"The suggestion {format_rate(suggestion.lr)} lies outside the Learning rate "
            f"slider's {format_rate(low)} to {format_rate(high)}: {format_rate(chosen)}, its "
            "nearest end, is a different rate; check the curve before using it.",
            icon=":material/warning:",
        )
    in_use = FORM["lr"] == chosen
    st.button(
        f"Use {format_rate(chosen)}",
        on_click=train_state.use_learning_rate,
        args=(chosen,),
        disabled=disabled or in_use,
        help=f"Set the Learning rate slider to {format_rate(chosen)} ({snapped})",
    )
    if in_use:
        st.caption(f"The Learning rate slider is at {format_rate(chosen)}.")


def describe_step(step: int, steps: int, lr: float, loss: float) -> str:
    """The progress bar's line for one step of the range test."""
    return f"step {step}/{steps}: lr {lr:.1e}, loss {loss:.3f}"
