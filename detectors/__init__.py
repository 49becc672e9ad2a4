"""Detectors D01–D21 over events and windows, peer baselines and anomaly models (issue: detectors).

The demo generator already plants every incident kind with ground truth (``truth.json``) for them.
"""
