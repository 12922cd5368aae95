"""The lenses: analyses that look at a trained run without changing it.

The pipeline (``lab.data`` -> ``lab.augment`` -> ``lab.models`` -> ``lab.train`` -> ``lab.runs``)
makes runs; these modules read them: ``insight`` (confusion pairs, top losses, calibration,
checkpoint comparison, the patience what-if, the generalisation gap, model anatomy),
``gradcam``, ``lr_finder``, ``robustness`` (accuracy under growing perturbations) and
``run_card`` (a zip that takes a run elsewhere).
"""
