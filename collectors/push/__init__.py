"""Collection over HTTP: sources with push tokens (``auditd source``), ``POST /api/v1/ingest/{source}``,
reference-feed uploads, and the runs, source health and quarantine people look at."""
