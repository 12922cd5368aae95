"""The app's session state, one module per concern, each owning one ``store.Store``.

``source`` (the sidebar's data source and runs folder), ``dataset``, ``augment``, ``train``,
``checkpoints`` and ``classify`` (one per page), and ``job`` (the training job this browser tab
started or watches). Pages and views read and change state only through these modules.
"""
