"""Streamlit helpers of the CIFAR Lab app: session state, cached loaders, charts and views.

Only this package and the pages import streamlit; everything they compute comes from ``lab``.
"""
