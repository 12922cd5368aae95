"""CIFAR Lab: the router. Draws the shared sidebar, then the page picked in the navigation."""

import streamlit as st

from app import nav, sidebar

st.set_page_config(page_title="CIFAR Lab", page_icon=":material/science:", layout="wide")

# The pages live in app/pages/, not pages/: Streamlit treats a folder named pages/ beside the
# entry script as a legacy multipage app, and then runs a page opened by its URL on its own,
# without this router and its sidebar, until st.navigation has been called once.
page = nav.navigation()
sidebar.render()
page.run()
