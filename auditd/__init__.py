"""auditd: access audit for the handling of personal numbers (個人番号) in Japanese municipalities."""

__version__ = "0.1.0"
