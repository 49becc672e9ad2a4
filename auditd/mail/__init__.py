"""E-mail of alerts: recipients, an outbox, and its delivery over SMTP (see docs/mail.md)."""
