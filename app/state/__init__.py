"""The app's session state, one module per concern, each owning one ``store.Store``.

``source`` (the sidebar's data source and runs folder), ``dataset``, ``augment``, ``train``,
``checkpoints`` and ``classify`` (one per page), ``job`` (the training job this browser tab
started or watches) and ``browser`` (this browser's key in the page address, its student's
name, and its stores kept on the server under the key). Pages and views read and change state
only through these modules.
"""
