"""Small controls that several pages share and the settings declaration does not describe: a
class picker with an "every class" entry, the button that draws new random images, the image
uploader with the upload limits, the progress bar of a long lab call, and a problem said in one
box (naming the server's folders as every browser may read them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import streamlit as st

from app import nav, serving
from app.state.store import Store
from lab.predict import MAX_FILE_BYTES, MAX_PIXELS

# The largest file any upload takes, in MB (the notebook's bare alex_net.pth state_dict is
# about 180 MB). `.streamlit/config.toml` gives the server's maxUploadSize the same figure (a
# test checks), and every uploader is given its limit, which it states and enforces itself.
UPLOAD_LIMIT_MB = 256
# Images: lab.predict refuses larger files before decoding them.
IMAGE_LIMIT_MB = MAX_FILE_BYTES // 2**20
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]


def class_choice(
    container: Any, label: str, classes: Sequence[str], store: Store, field: str, none: str
) -> str | None:
    """A selectbox of ``classes`` plus an entry worded ``none`` (chosen first), bound to
    ``field`` of ``store``; the chosen class, or None for that entry."""
    options = ["", *classes]
    store.ensure_choice(field, options, "")
    chosen = container.selectbox(
        label, options, format_func=lambda name: name or none, **store.widget(field)
    )
    return chosen or None


def redraw_button(container: Any, label: str, icon: str, store: Store, help: str | None = None):
    """A button that advances the ``seed`` of ``store``: new random images."""
    container.button(
        label, icon=icon, on_click=store.advance, args=("seed",), help=help, width="stretch"
    )


def error_box(container: Any, error: object, icon: str | None = ":material/error:") -> None:
    """``error`` (a ``LabError``, a message) in one error box of ``container``, its server
    folders named as ``serving.shown`` names them."""
    container.error(serving.shown(error), icon=icon)


def no_runs_yet(runs_dir: Any, alternative: str = "") -> None:
    """Say that the runs folder holds no run and how to make one, link the Train page, and end
    the page here."""
    st.info(
        f"No runs in `{serving.shown(runs_dir)}` yet. Train one on the Train page (the "
        f"**cpu-fast** preset takes minutes) or with `cifar-lab train --preset cpu-fast`"
        f"{alternative}; its checkpoints appear here."
    )
    nav.link(nav.TRAIN, "Go to the Train page")
    st.stop()


def image_uploader(container: Any, label: str, key: str) -> list:
    """Several images at once, each at most ``IMAGE_LIMIT_MB`` (the uploader says so) and
    ``MAX_PIXELS``; the uploaded files."""
    return (
        container.file_uploader(
            label,
            type=IMAGE_TYPES,
            accept_multiple_files=True,
            key=key,
            max_upload_size=IMAGE_LIMIT_MB,
            help=f"Images of up to {MAX_PIXELS // 1_000_000} megapixels; any size works, the "
            "network sees them scaled to its input size.",
        )
        or []
    )


@contextmanager
def progress_bar(text: str | None, describe: Callable[..., str]) -> Iterator[Callable[..., None]]:
    """A progress bar saying ``text`` until the first step, for the block's lab call; with
    ``text`` None, nothing shows before the first step (a call that finds its result kept
    takes none). The block gets its callback: ``callback(done, total, *details)`` fills the
    bar to ``done / total`` and says ``describe(done, total, *details)``, so it is a
    ``lab.data.Progress`` for a two-argument ``describe``. The bar goes when the block ends,
    however it ends."""
    bar = st.empty() if text is None else st.progress(0.0, text=text)

    def step(done: int, total: int, *details: Any) -> None:
        bar.progress(done / max(total, 1), text=describe(done, total, *details))

    try:
        yield step
    finally:
        bar.empty()
