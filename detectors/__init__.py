"""Detectors D01–D21: rules over single events and over windows, peer baselines and an anomaly model.

- :mod:`detectors.base`: what a detector declares (code, severity, titles, control, thresholds) and
  the :class:`~detectors.base.Finding` it returns;
- :mod:`detectors.window`: a window of events with the reference data that explains them;
- :mod:`detectors.policy`, :mod:`detectors.residents`, :mod:`detectors.accounts`,
  :mod:`detectors.sources`, :mod:`detectors.anomaly`: the built-in detectors, by family;
- :mod:`detectors.service`: running them over Japan days and storing alerts once;
- :mod:`detectors.quality`: scoring alerts against a generated city's ground truth.

Built-ins register under the ``auditd.detectors`` entry points, as a third party's would.
"""
