"""The Inside page shows what ``lab.lenses.inside`` and ``lab.lenses.attribution`` compute, on a
real tiny run: the path's stage sizes, the strongest feature maps of the chosen layer (as many
as the slider says), the first layer's filters, the test images that excite a channel most, and
the four attributions with their captions; for a test image, an upload and a photo."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from app_helpers import button, go_to, open_page, texts, tiny_run_config
from PIL import Image

from app import nav
from app.state.inside import CAMERA, IMAGE_UPLOAD, PICKS
from app.views.inside import TOP_IMAGES
from lab import runs
from lab.checkpoint import load_model
from lab.data import load_dataset
from lab.fit import fit
from lab.launch import prepare_run
from lab.lenses.attribution import METHODS
from lab.lenses.inside import channel_activations, look_inside
from lab.predict import open_image


def captions(at) -> list[list[str]]:
    """The captions of every st.image call of the page, one list per call, in page order."""
    return [list(element.captions) for element in at.get("image")]


def images_captioned(at, pattern: str) -> list[str]:
    """The captions of the one st.image call whose first caption matches ``pattern``."""
    (found,) = [shown for shown in captions(at) if shown and re.match(pattern, shown[0])]
    return found


def shown_test_image(at, data_folder):
    """The index of the test image the page shows, and that image as the page decodes it."""
    (caption,) = images_captioned(at, r"test image \d+")
    index = int(re.match(r"test image (\d+)", caption).group(1))
    dataset = load_dataset(str(data_folder))
    return index, Image.fromarray(dataset.test.images[index].permute(1, 2, 0).numpy())


def loaded_model(at, runs_dir, file: str = runs.BEST):
    return load_model(runs_dir / at.selectbox(key=PICKS.key("run")).value / file, device="cpu")


def map_captions(layer, count: int) -> list[str]:
    """What the page writes under the ``count`` strongest maps of a ``LayerMaps``."""
    channels, _ = layer.strongest(count)
    return [f"ch {c} · {layer.means[c]:.2f}" for c in channels]


@pytest.fixture
def inside(with_data, with_runs):
    at = open_page(nav.INSIDE)
    assert not at.exception, at.exception[0].message
    assert not at.error, at.error[0].value
    return at


def test_the_path_lists_every_stage_with_its_size(inside, with_data, with_runs):
    _, image = shown_test_image(inside, with_data)
    expected = look_inside(loaded_model(inside, with_runs), image).path
    (table,) = inside.table
    shown = table.value
    assert list(shown.index) == [stage.name for stage in expected.stages]
    assert list(shown["size after it"]) == [stage.size for stage in expected.stages]
    assert f"**{expected.summary}**" in [m.value for m in inside.markdown]
    assert expected.summary.startswith("32 → 16 → 8 → 4 px")


def test_the_feature_maps_follow_the_layer_and_count_sliders(inside, with_data, with_runs):
    _, image = shown_test_image(inside, with_data)
    expected = look_inside(loaded_model(inside, with_runs), image)
    layers = [layer.title for layer in expected.layers]
    assert inside.select_slider(key=PICKS.key("layer")).options == layers

    # conv1 of the tiny model has 8 channels: all 8 of the 16 asked for are shown.
    conv1 = expected.layer("conv1")
    assert inside.slider(key=PICKS.key("maps")).value == 16
    assert images_captioned(inside, r"ch \d+ · ") == map_captions(conv1, 8)
    assert "8 of 8 maps of conv1, 32 x 32 px each" in texts(inside)

    inside.select_slider(key=PICKS.key("layer")).set_value("conv3").run()
    conv3 = expected.layer("conv3")
    assert inside.slider(key=PICKS.key("maps")).value == 16
    assert images_captioned(inside, r"ch \d+ · ") == map_captions(conv3, 16)

    inside.slider(key=PICKS.key("maps")).set_value(5).run()
    assert not inside.exception, inside.exception[0].message
    assert images_captioned(inside, r"ch \d+ · ") == map_captions(conv3, 5)
    (grid,) = [e for e in inside.get("image") if e.captions and e.captions[0].startswith("ch ")]
    assert len(grid.proto.imgs) == 5


def test_the_first_layer_filters_are_one_colour_grid(inside, with_runs):
    weights = loaded_model(inside, with_runs).model.features[0].weight
    count, _, height, width = weights.shape
    assert images_captioned(inside, r"\d+ filters") == [f"{count} filters of {height}x{width} px"]


def test_the_top_images_of_a_channel_are_the_library_ranking(inside, with_data, with_runs):
    index, image = shown_test_image(inside, with_data)
    loaded = loaded_model(inside, with_runs)
    conv2 = look_inside(loaded, image).layer("conv2")
    inside.select_slider(key=PICKS.key("layer")).set_value("conv2").run()
    channel = inside.selectbox(key=PICKS.key("channel_conv2"))
    assert channel.options == [
        f"channel {c} (mean {conv2.means[c]:.2f} on this image)" for c in conv2.order
    ]
    assert channel.value == int(conv2.order[0])  # the strongest on this image, first

    button(inside, "Rank the test images").click().run()
    assert not inside.exception, inside.exception[0].message
    ranking = channel_activations(loaded, load_dataset(str(with_data)), cache=False)

    def expected(c: int) -> list[str]:
        top = ranking.top("conv2", c, TOP_IMAGES)
        return [f"{row.true} · {row.activation:.2f}" for row in top.itertuples(index=False)]

    assert images_captioned(inside, r"(circle|square|stripes) · ") == expected(channel.value)
    other = int(conv2.order[-1])
    inside.selectbox(key=PICKS.key("channel_conv2")).set_value(other).run()
    assert images_captioned(inside, r"(circle|square|stripes) · ") == expected(other)
    assert f"channel {other} of conv2" in texts(inside)


def test_the_attributions_picked_come_with_their_captions(inside):
    def shown_methods() -> list[str]:
        titles = {method.title for method in METHODS.values()}
        return [shown[0] for shown in captions(inside) if shown and shown[0] in titles]

    assert shown_methods() == ["Grad-CAM"]  # the quickest, by default
    assert METHODS["gradcam"].caption in texts(inside)
    inside.segmented_control(key=PICKS.key("methods")).set_value(list(METHODS)).run()
    assert not inside.exception, inside.exception[0].message
    assert shown_methods() == [method.title for method in METHODS.values()]
    for method in METHODS.values():
        assert method.caption in texts(inside)
    inside.selectbox(key=PICKS.key("target")).set_value("square").run()
    assert not inside.exception, inside.exception[0].message
    assert "Explaining **square**" in texts(inside)
    inside.segmented_control(key=PICKS.key("methods")).set_value([]).run()
    assert shown_methods() == [] and "Pick a method above" in texts(inside)


def test_an_uploaded_image_and_a_photo_are_looked_into(inside, with_data, with_runs):
    source = with_data / "test" / "circle" / "0004.png"
    inside.segmented_control(key=PICKS.key("source")).set_value("upload").run()
    assert "Choose an image above" in texts(inside)
    inside.file_uploader(key=IMAGE_UPLOAD).upload(source.name, source.read_bytes(), "image/png")
    inside.run()
    assert not inside.exception, inside.exception[0].message
    assert images_captioned(inside, source.name) == [f"{source.name}, as the network sees it"]
    conv1 = look_inside(loaded_model(inside, with_runs), open_image(source.read_bytes())).layer(
        "conv1"
    )
    assert images_captioned(inside, r"ch \d+ · ") == map_captions(conv1, 8)

    photo = io.BytesIO()
    Image.open(source).convert("RGB").resize((640, 480)).save(photo, format="JPEG")
    inside.segmented_control(key=PICKS.key("source")).set_value("camera").run()
    inside.camera_input(key=CAMERA).set_value(("photo.jpg", photo.getvalue(), "image/jpeg"))
    inside.run()
    assert not inside.exception, inside.exception[0].message
    assert images_captioned(inside, "photo.jpg") == ["photo.jpg, as the network sees it"]
    assert "Resized from 640 x 480 px to 32 px" in texts(inside)


def test_a_file_that_is_no_picture_is_refused_in_a_sentence(inside):
    inside.segmented_control(key=PICKS.key("source")).set_value("upload").run()
    inside.file_uploader(key=IMAGE_UPLOAD).upload("notes.png", b"just text", "image/png")
    inside.run()
    assert not inside.exception
    assert inside.error[0].value.startswith("notes.png: not")


def test_last_pt_is_looked_into_as_well(inside, with_data, with_runs):
    inside.segmented_control(key=PICKS.key("file")).set_value(runs.LAST).run()
    assert not inside.exception, inside.exception[0].message
    assert f"{runs.LAST}" in texts(inside)
    _, image = shown_test_image(inside, with_data)
    conv1 = look_inside(loaded_model(inside, with_runs, runs.LAST), image).layer("conv1")
    assert images_captioned(inside, r"ch \d+ · ") == map_captions(conv1, 8)


def test_the_choices_stay_across_page_switches(inside):
    inside.select_slider(key=PICKS.key("layer")).set_value("conv4").run()
    inside.slider(key=PICKS.key("maps")).set_value(3).run()
    shown = images_captioned(inside, r"test image")
    go_to(inside, nav.DATASET)
    go_to(inside, nav.INSIDE)
    assert not inside.exception, inside.exception[0].message
    assert inside.select_slider(key=PICKS.key("layer")).value == "conv4"
    assert inside.slider(key=PICKS.key("maps")).value == 3
    assert images_captioned(inside, r"test image") == shown


def test_without_runs_the_page_says_how_to_make_one(with_data, empty_runs):
    at = open_page(nav.INSIDE)
    assert not at.exception
    assert f"No runs in `{empty_runs}` yet" in texts(at)


@pytest.fixture
def whitened_runs(tiny_folder, tmp_path, monkeypatch) -> Path:
    """A runs folder with one short alexnet_whitened run, whose conv1 is the frozen whitening."""
    runs_dir = tmp_path / "runs"
    config = tiny_run_config(tiny_folder, epochs=1).with_overrides(
        model={"name": "alexnet_whitened", "dropout": 0.0}
    )
    fit(prepare_run(config, runs_dir, name="whitened"))
    monkeypatch.setenv(runs.RUNS_ENV, str(runs_dir))
    return runs_dir


def test_a_whitened_network_is_shown_with_its_global_pool_and_its_computed_filters(
    with_data, whitened_runs
):
    at = open_page(nav.INSIDE)
    assert not at.exception, at.exception[0].message
    (table,) = at.table
    shown = table.value
    assert list(shown.index)[-3:] == ["global max-pool", "flatten", "fc1"]
    assert shown.loc["global max-pool", "size after it"] == "32 x 1 x 1"
    assert shown.loc["flatten", "size after it"] == "32"
    assert shown.loc["fc1", "what it does"] == "32 numbers in, 3 out"  # the tiny folder's classes
    assert "then 32 numbers into the fully connected layer" in texts(at)
    page = texts(at)
    assert "These filters were not learned" in page
    assert "computed from the 2x2 patches of the training images" in page
    assert "the pattern it learned" not in page
