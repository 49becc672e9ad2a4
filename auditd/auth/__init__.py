"""The platform's own users: officers, auditors, section heads, administrators, API clients."""
