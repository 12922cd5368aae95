"""A ``Store`` keeps what the user set whatever Streamlit does with the widgets' own state."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def store_page() -> None:
    """A page with one slider and one text box bound to a store. ``draw`` hides the slider
    (as another page would), ``shown`` locks the text box to another value."""
    import streamlit as st

    from app.state.store import STORED, Store

    store = Store("demo", lambda: {"count": 1, "word": "first"})
    if st.session_state.get("draw", True):
        st.slider("Count", 0, 10, **store.widget("count"))
    shown = st.session_state.get("shown", STORED)
    st.text_input("Word", disabled=shown is not STORED, **store.widget("word", shown))
    if st.session_state.get("reset"):
        store.set("count", 0)
    st.markdown(f"stored: {store['count']} {store['word']}")


def stored(at: AppTest) -> str:
    return at.markdown[0].value


def test_a_value_survives_its_widget_being_dropped():
    at = AppTest.from_function(store_page).run()
    at.slider(key="demo_count").set_value(7).run()
    assert stored(at) == "stored: 7 first"
    at.session_state["draw"] = False
    at.run()
    at.run()
    assert "demo_count" not in at.session_state  # Streamlit has dropped the widget's state
    at.session_state["draw"] = True
    at.run()
    assert at.slider(key="demo_count").value == 7


def test_a_shown_value_leaves_the_store_alone_and_the_stored_one_comes_back():
    at = AppTest.from_function(store_page).run()
    at.text_input(key="demo_word").input("mine").run()
    at.session_state["shown"] = "the run's"
    at.run()
    box = at.text_input(key="demo_word")
    assert (box.value, box.disabled, stored(at)) == ("the run's", True, "stored: 1 mine")
    del at.session_state["shown"]
    at.run()
    box = at.text_input(key="demo_word")
    assert (box.value, box.disabled) == ("mine", False)


def test_a_value_set_by_code_shows_at_the_next_draw():
    at = AppTest.from_function(store_page).run()
    at.slider(key="demo_count").set_value(7).run()
    at.session_state["reset"] = True
    at.run()  # set after the slider was drawn: the store has it ...
    assert stored(at).startswith("stored: 0")
    at.session_state["reset"] = False
    at.run()  # ... and the slider shows it from the next run on
    assert at.slider(key="demo_count").value == 0
