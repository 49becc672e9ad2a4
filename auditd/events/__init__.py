"""Canonical operation events: the append-only record everything else reads."""
