"""Reports made (the ``report_runs`` table). The report builders themselves live in the top-level
``reports`` package; this is the part of the store they write to."""
