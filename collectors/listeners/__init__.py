"""Network listeners: sources that send their logs as they happen (syslog over UDP, TCP and RELP).

A listener frames and decodes what arrives and hands the messages, in batches, to
:class:`collectors.pipeline.StreamIngest`; parsing, mapping, masking and quarantine are the
pipeline's, exactly as for files.
"""
