"""CIFAR Lab: the router. Draws the shared sidebar, then the page picked in the navigation."""

import streamlit as st

from ui import sidebar, state

st.set_page_config(page_title="CIFAR Lab", page_icon=":material/science:", layout="wide")
state.init()

# The pages live in app_pages/, not pages/: Streamlit treats a folder named pages/ beside the
# entry script as a legacy multipage app, and then runs a page opened by its URL on its own,
# without this router and its sidebar, until st.navigation has been called once.
PAGES = [
    st.Page(
        "app_pages/1_dataset.py", title="Dataset", icon=":material/photo_library:", default=True
    ),
    st.Page("app_pages/2_augmentations.py", title="Augmentations", icon=":material/auto_fix_high:"),
    st.Page("app_pages/3_train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/4_checkpoints.py", title="Checkpoints", icon=":material/leaderboard:"),
    st.Page("app_pages/5_classify.py", title="Classify", icon=":material/image_search:"),
]
page = st.navigation(PAGES)
sidebar.render()
page.run()
