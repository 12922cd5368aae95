"""The Train page's code view: the run the form describes as the standalone PyTorch script that
``lab.codegen`` writes, step by step. The step where the form's last change lands comes up by
itself (the learning rate in the optimizer's step, the model in the model's); the whole script
is one tab away, and the script and its notebook download as files."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import nbformat
import streamlit as st

from app.state import code as code_state
from app.state import train as train_state
from app.state.code import VIEW
from lab.codegen import Section, render_notebook, render_script, script_sections
from lab.config import SETTINGS, RunConfig
from lab.jobs import JobSnapshot

LABEL = "The code: these settings in plain PyTorch"
# Pixels of a code box: a long step scrolls inside it, so the form above stays in view. Its
# lines do not wrap (a wrapped comment leaves single words on lines of their own): in a window
# narrower than about 1400 px the longest of them scroll sideways.
CODE_HEIGHT = 440
# A run without a name or a preset downloads as this.
STEM = "cifar-lab-run"


def script_file(config: RunConfig) -> str:
    """The download of the whole script."""
    return render_script(config)


def notebook_file(config: RunConfig) -> str:
    """The download of the notebook, as the JSON an .ipynb file holds."""
    return nbformat.writes(render_notebook(config))


def written_here(section: Section, keys: Sequence[str]) -> str:
    """Which of the form's settings ``keys`` the step writes, in words."""
    labels = [
        SETTINGS[key].spec.label
        for key in keys
        if f"{SETTINGS[key].section}.{SETTINGS[key].name}" in section.settings
    ]
    if not labels:
        return "No setting of the form changes this step."
    return f"The form's settings in this step: {', '.join(labels)}."


def render(
    config: RunConfig | None,
    keys: Sequence[str],
    running: JobSnapshot | None,
    swept: Sequence[str] = (),
) -> None:
    """An expander with the script of ``config`` (the run Start would train; None while the
    form describes none), or of the ``running`` job's run while it is active: the step where
    the last change of the form's settings ``keys`` lands (any step on request), the whole
    script, and both downloads, named after the run (else its preset). ``swept``: the settings
    a sweep tries several values of."""
    name = running.run_name if running is not None else train_state.run_name()
    config = running.config if running is not None else config
    # Its open state is kept, so a rerun (every step of a slider) leaves it open.
    with st.expander(LABEL, **VIEW.widget("open")):
        if config is None:
            st.caption("The code shows once the settings above are valid.")
            return
        sections = script_sections(config)
        titles = [section.title for section in sections]
        code_state.follow(config, keys, titles)
        numbered = {title: f"{number}. {title}" for number, title in enumerate(titles, 1)}
        if swept:
            names = " and ".join(SETTINGS[key].spec.label.lower() for key in swept)
            st.caption(f"A sweep runs this script once for each of its values of {names}.")
        step, whole = st.tabs(["A step of the script", "The whole script"])
        with step:
            choice, note = st.columns([3, 2], vertical_alignment="bottom")
            title = choice.selectbox(
                "Show the code for",
                titles,
                format_func=numbered.get,
                help="The step where the last change of a setting lands comes up by itself.",
                **VIEW.widget("step"),
            )
            section = sections[titles.index(title)]
            note.caption(written_here(section, keys))
            st.markdown(section.why)
            st.code(section.code, language="python", height=CODE_HEIGHT)
        whole.code(render_script(config), language="python", height=CODE_HEIGHT)
        stem = name or config.preset or STEM
        row = st.container(horizontal=True)
        # Built only when clicked: a file built on every run is replaced by the next rerun
        # (each step of a slider), which can remove it while the browser is still fetching it.
        row.download_button(
            f"Download {stem}.py",
            partial(script_file, config),
            file_name=f"{stem}.py",
            mime="text/x-python",
            help="The whole script: it trains this run with PyTorch alone, without the lab.",
            icon=":material/download:",
            on_click="ignore",
        )
        row.download_button(
            f"Download {stem}.ipynb",
            partial(notebook_file, config),
            file_name=f"{stem}.ipynb",
            mime="application/x-ipynb+json",
            help="The same steps as a Jupyter notebook, each with a note on why.",
            icon=":material/download:",
            on_click="ignore",
        )
