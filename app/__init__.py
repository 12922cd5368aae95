"""The CIFAR Lab app: Streamlit pages over the ``lab`` library.

``nav`` lists the pages; ``pages/`` holds one script per page and ``views/`` the rendering of
each; ``state/`` keeps what a user sets, one module per concern; ``settings`` builds controls
from the settings declaration of ``lab.config``; ``cache``, ``charts``, ``images``, ``data``,
``jobs`` and ``sidebar`` are shared by the pages. Only this package imports streamlit; everything
it computes comes from ``lab``.
"""
