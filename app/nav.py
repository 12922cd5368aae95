"""The app's pages, listed once: the router, every page switch and link, and the tests use
these entries, never a page's path as a string."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.navigation.page import StreamlitPage


@dataclass(frozen=True)
class Page:
    """One page: its title and icon in the navigation, and its script (relative to
    streamlit_app.py, as Streamlit resolves page paths)."""

    title: str
    icon: str
    script: str


DATASET = Page("Dataset", ":material/photo_library:", "app/pages/dataset.py")
AUGMENTATIONS = Page("Augmentations", ":material/auto_fix_high:", "app/pages/augmentations.py")
TRAIN = Page("Train", ":material/model_training:", "app/pages/train.py")
CHECKPOINTS = Page("Checkpoints", ":material/leaderboard:", "app/pages/checkpoints.py")
CLASS_BOARD = Page("Class board", ":material/groups:", "app/pages/class_board.py")
CLASSIFY = Page("Classify", ":material/image_search:", "app/pages/classify.py")
INSIDE = Page("Inside the network", ":material/neurology:", "app/pages/inside.py")
PAGES = (DATASET, AUGMENTATIONS, TRAIN, CHECKPOINTS, CLASS_BOARD, CLASSIFY, INSIDE)


def navigation() -> StreamlitPage:
    """The sidebar's navigation over ``PAGES``, the first one the default; returns the page
    to run."""
    return st.navigation(
        [
            st.Page(page.script, title=page.title, icon=page.icon, default=page is PAGES[0])
            for page in PAGES
        ]
    )


def switch_to(page: Page) -> None:
    st.switch_page(page.script)


def link(page: Page, label: str) -> None:
    st.page_link(page.script, label=label, icon=page.icon)
