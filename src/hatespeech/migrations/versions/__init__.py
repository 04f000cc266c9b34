"""Alembic revisions, one file per schema change (a package, so that installs carry them)."""
