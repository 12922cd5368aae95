"""The lenses: analyses that look at a trained run without changing it.

The pipeline (``lab.data`` -> ``lab.augment`` -> ``lab.models`` -> ``lab.fit`` -> ``lab.runs``)
makes runs; these modules read them: ``insight`` (confusion pairs, top losses, calibration,
checkpoint comparison, model anatomy), ``dynamics`` (the patience what-if and the
generalisation gap, from a run's history),
``inside`` (an image's path through the layers, feature maps, first-layer filters, what a
channel responds to), ``gradcam`` and ``attribution`` (Grad-CAM, Integrated Gradients,
occlusion and saliency through Captum), ``embedding`` (a 2-D map of the penultimate features),
``lr_finder``, ``robustness`` (accuracy under growing perturbations) and ``run_card`` (a zip
that takes a run elsewhere). ``activations`` holds what the sampled lenses share: one pass of a
checkpoint over test images and its cache in the run folder.
"""
