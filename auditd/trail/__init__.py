"""The platform's own audit trail: everything auditd's users do, append-only."""
