"""The Augmentations page: K captioned draws per image, its controls from the declaration, the
JSON round trip, and handing the augmentation to the Train page."""

from __future__ import annotations

import html
import io
import json
import re

from app_helpers import button, go_to, keyed_widget, open_page, texts
from PIL import Image

from app import nav
from app.state.augment import CONTROLS, TRANSFORMS, switch
from lab.config import AugmentConfig, declaration

# A caption under an image: its details on hover (the span's title), its short text.
CAPTION = re.compile(r'<span title="([^"]*)">([^<]*)</span>')


def test_the_augmentations_page_draws_k_images_and_round_trips_json(with_data, empty_runs):
    at = open_page(nav.AUGMENTATIONS)
    at.slider(key=CONTROLS.key("images")).set_value(2).run()
    at.slider(key=CONTROLS.key("draws")).set_value(4).run()
    captions = [CAPTION.fullmatch(c.value).groups() for c in at.caption if CAPTION.match(c.value)]
    drawn = [(html.unescape(details), short) for details, short in captions if short != "original"]
    assert len(drawn) == 2 * 4
    # Each draw: a short caption (the angle, "flip" when flipped), the details on hover.
    assert all("angle" in details and "flipped" in details for details, _ in drawn)
    assert all(len(short) <= len("flip +15°") for _, short in drawn)
    assert all(("flip" in short) == details.startswith("flipped") for details, short in drawn)

    upload = b'{"rotation": 40.0, "hflip_p": 0.0, "translate": 3}'
    at.file_uploader(key=CONTROLS.key("json_upload")).upload("aug.json", upload, "application/json")
    at.run()
    assert at.slider(key=CONTROLS.key("rotation")).value == 40.0
    assert at.toggle(key=CONTROLS.key("hflip_p_on")).value is False
    assert (
        at.toggle(key=CONTROLS.key("translate_on")).value and '"translate": 3' in at.code[0].value
    )
    shown = AugmentConfig.from_dict(json.loads(at.code[0].value))
    assert shown == AugmentConfig(rotation=40.0, hflip_p=0.0, translate=3)

    # The button hands the augmentation to the Train form and opens the Train page.
    button(at, "Train with this augmentation").click().run()
    assert not at.exception, at.exception[0].message
    assert at.title[0].value == nav.TRAIN.title
    assert "the one made on the Augmentations page" in texts(at)
    go_to(at, nav.AUGMENTATIONS)
    assert "The Train page uses this augmentation." in texts(at)
    assert button(at, "Train with this augmentation").disabled


def test_every_transform_has_a_switch_and_controls_from_the_declaration(with_data, empty_runs):
    at = open_page(nav.AUGMENTATIONS)
    for transform in TRANSFORMS:
        toggle = at.toggle(key=CONTROLS.key(switch(transform)))
        # The switch bears the name its setting declares for the transform.
        assert toggle.label == declaration("augment", transform.setting).spec.transform
        for name in (transform.setting, *transform.extra):
            setting = declaration("augment", name)
            control = keyed_widget(at, CONTROLS.key(name))
            assert control.label == setting.spec.label
            assert control.help == setting.describe(control=True)
            assert control.disabled is not toggle.value  # usable only while switched on


def test_a_switched_off_transform_keeps_its_setting(with_data, empty_runs):
    at = open_page(nav.AUGMENTATIONS)
    at.slider(key=CONTROLS.key("rotation")).set_value(24.0).run()
    at.toggle(key=CONTROLS.key("rotation_on")).set_value(False).run()
    assert '"rotation": 0.0' in at.code[0].value
    at.toggle(key=CONTROLS.key("rotation_on")).set_value(True).run()
    assert at.slider(key=CONTROLS.key("rotation")).value == 24.0
    assert '"rotation": 24.0' in at.code[0].value
    go_to(at, nav.DATASET)
    go_to(at, nav.AUGMENTATIONS)
    assert at.slider(key=CONTROLS.key("rotation")).value == 24.0


def test_augmentations_of_one_class_and_of_an_upload(with_data, empty_runs):
    at = open_page(nav.AUGMENTATIONS)
    at.segmented_control(key=CONTROLS.key("pick")).set_value("class").run()
    at.selectbox(key=CONTROLS.key("class")).set_value("stripes").run()
    titles = [m.value for m in at.markdown if m.value.startswith("**stripes")]
    assert len(titles) == at.slider(key=CONTROLS.key("images")).value

    photo = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(photo, format="JPEG")
    at.segmented_control(key=CONTROLS.key("pick")).set_value("upload").run()
    uploader = at.file_uploader(key=CONTROLS.key("uploads"))
    uploader.upload("photo.jpg", photo.getvalue(), "image/jpeg")
    uploader.upload("broken.png", b"\x89PNG not really", "image/png")
    at.run()
    assert not at.exception
    assert "**photo.jpg**" in [m.value for m in at.markdown]
    assert at.error[0].value.startswith("broken.png")


def test_the_json_download_is_made_on_click_so_no_rerun_can_remove_it(with_data, empty_runs):
    """Built on every run, the download's file was replaced by each rerun (every step of a
    slider), while the browser still checked the previous file: a 404 in its console."""
    at = open_page(nav.AUGMENTATIONS)
    at.slider(key=CONTROLS.key("rotation")).set_value(20.0).run()
    (download,) = [b for b in at.get("download_button") if b.proto.label == "Download JSON"]
    assert download.proto.url == ""  # nothing for the browser to fetch until it is clicked
    assert download.proto.deferred_file_id
