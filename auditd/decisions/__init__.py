"""Policy decisions: which policy version judged an event, and the violations it found."""
