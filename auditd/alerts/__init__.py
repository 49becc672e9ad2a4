"""Alerts: the findings of the detectors as stored, one row each, and the detection runs that made them.

Issue 6 (alerts, cases, e-mail) grows this folder into the response side: cases, workflow, suppressions.
"""
