"""Archiving old months of events to Parquet, and purging them under retention (see docs/postgresql.md)."""
