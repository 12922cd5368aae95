"""Inside: one image inside one network. Its path through the layers with the size at each
stage, the feature maps of every convolution, the first layer's filters, the test images that
excite a channel most, and four attributions of the class, for any run's checkpoint and a
test image, an upload or a photo."""

import streamlit as st

from app import nav, serving
from app.cache import inference_model
from app.data import require_dataset
from app.run_choice import best_run
from app.state import source
from app.views import inside as view
from app.widgets import error_box, no_runs_yet
from lab.errors import LabError
from lab.runs import list_runs

st.title(nav.INSIDE.title, anchor=False)
found = list_runs(source.runs_dir())
if not found:
    no_runs_yet(source.runs_dir())
checkpoint = view.checkpoint_choice(found, best_run(found))
try:
    loaded = inference_model(checkpoint)
except LabError as error:
    error_box(st, f"Cannot use this checkpoint: {error}")
    st.stop()
st.caption(
    f"{loaded.config.model.name} · {loaded.input_size} px input · {serving.shown(checkpoint)}"
)

dataset = require_dataset("draw test images and find what a channel responds to")
chosen = view.image_choice(dataset)
if chosen is None:
    st.info("Choose an image above to look inside the network.", icon=":material/image:")
    st.stop()
name, picture, given = chosen
inside = view.look(checkpoint, picture)

st.subheader("The image's path through the layers", anchor=False)
view.image_path(name, given, inside)

st.subheader("Feature maps", anchor=False)
layer = view.layer_choice(inside)
view.feature_maps(layer)

st.subheader("The first layer's filters", anchor=False)
view.first_layer_filters(checkpoint, loaded)

st.subheader("What a channel responds to", anchor=False)
view.channel_responses(checkpoint, source.data_source(), dataset, layer)

st.subheader("Which pixels made the class", anchor=False)
view.attribution_grid(checkpoint, loaded, picture)
