"""Collectors: turn what municipal systems emit into canonical events and reference records."""
