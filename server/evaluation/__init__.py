"""Honest accuracy evaluation of a face engine on labelled photo folders (``vigil eval``).

Modules: :mod:`~server.evaluation.dataset` (layout and the 1:N split),
:mod:`~server.evaluation.acquire` (images to templates), :mod:`~server.evaluation.degrade`
(live-camera conditions), :mod:`~server.evaluation.metrics` (pure metric functions),
:mod:`~server.evaluation.scoring` (pairs and searches), :mod:`~server.evaluation.groups`
(per-group figures), :mod:`~server.evaluation.runner` (a whole run),
:mod:`~server.evaluation.plot` (DET plot), :mod:`~server.evaluation.report` (the JSON shape)
and :mod:`~server.evaluation.calibrate` (thresholds for :mod:`server.recognition.calibration`).
"""
