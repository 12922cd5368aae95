"""CIFAR Lab: the router. Draws the shared sidebar, then the page picked in the navigation."""

from pathlib import Path

import streamlit as st

from app import nav, sidebar

# A file served by the app itself: a Material icon as the favicon would be fetched from Google's
# font servers, and nothing the lab shows may need a request that leaves the machine.
FAVICON = Path(__file__).parent / "app" / "favicon.png"

st.set_page_config(page_title="CIFAR Lab", page_icon=str(FAVICON), layout="wide")

# The pages live in app/pages/, not pages/: Streamlit treats a folder named pages/ beside the
# entry script as a legacy multipage app, and then runs a page opened by its URL on its own,
# without this router and its sidebar, until st.navigation has been called once.
page = nav.navigation()
sidebar.render()
page.run()
