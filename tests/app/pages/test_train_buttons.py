"""The Train page's buttons for a queued run: only Stop (which cancels it) applies, and its live
view has no epoch to chart yet, so it says so in a line instead of drawing empty charts."""

from __future__ import annotations

from app_helpers import button, open_page, texts

from app import nav
from app.state.train import FORM
from app.views.train import live


def set_up_tiny_run(at, epochs: int) -> None:
    at.select_slider(key=FORM.key("width")).set_value(0.125)
    at.select_slider(key=FORM.key("batch_size")).set_value(8)
    at.slider(key=FORM.key("epochs")).set_value(epochs)
    at.slider(key=FORM.key("patience")).set_value(30)
    at.run()


def test_a_queued_run_offers_only_stop_and_charts_no_epoch_yet(with_data, empty_runs):
    first = open_page(nav.TRAIN)
    set_up_tiny_run(first, epochs=100)
    button(first, "Start").click().run()
    second = open_page(nav.TRAIN)
    set_up_tiny_run(second, epochs=2)
    button(second, "Start").click().run()
    assert not second.exception, second.exception[0].message
    assert "position 1 in the queue" in second.get("progress")[0].proto.text

    assert button(second, "Pause").disabled
    assert "has not started" in button(second, "Pause").help
    assert not button(second, "Stop").disabled
    assert "Cancels the queued run" in button(second, "Stop").help
    assert live.NO_EPOCH_YET in texts(second)
    assert not second.get("vega_lite_chart")
    button(second, "Stop").click().run()
    button(first, "Stop").click().run()
