"""The Dataset page shows the data's counts, a sample grid and its channel statistics."""

from __future__ import annotations

from app_helpers import button, open_page, texts

from app import nav
from app.state.dataset import GRID
from lab.data import load_dataset


def test_the_dataset_page_shows_counts_samples_and_statistics(with_data, empty_runs):
    at = open_page(nav.DATASET)
    assert "3 classes · 72 training and 24 test images of 32x32 px" in texts(at)
    assert len(at.get("vega_lite_chart")) == 2  # counts per class, pixel histograms
    dataset = load_dataset(str(with_data))
    assert len(at.get("image")) == len(dataset.classes)  # one strip of samples per class
    labels = [m.value for m in at.markdown if m.value.strip("*") in dataset.classes]
    assert labels == [f"**{name}**" for name in dataset.classes]
    stats = at.dataframe[0].value
    assert list(stats.index) == ["red", "green", "blue"]
    assert stats["mean (this data)"].round(6).tolist() == [round(m, 6) for m in dataset.mean]
    assert "Seed 0" in texts(at)
    button(at, "Reshuffle").click().run()
    assert "Seed 1" in texts(at)
    at.pills(key=GRID.key("classes")).set_value(["circle"]).run()
    assert len(at.get("image")) == 1


def test_the_grid_keeps_its_choices_across_a_page_switch(with_data, empty_runs):
    at = open_page(nav.DATASET)
    at.pills(key=GRID.key("classes")).set_value(["square"])
    at.slider(key=GRID.key("per_class")).set_value(3).run()
    at.switch_page(nav.CLASSIFY.script).run()
    at.switch_page(nav.DATASET.script).run()
    assert at.pills(key=GRID.key("classes")).value == ["square"]
    assert at.slider(key=GRID.key("per_class")).value == 3
