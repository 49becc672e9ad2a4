"""Drop folders: ``auditd watch`` ingests the files municipal systems drop or append to, as they arrive.

``config`` says which folders, patterns and profiles; ``service`` polls and ingests; ``cli`` is the
command. The ingest pipeline's checkpoints make every restart continue exactly where it stopped.
"""
