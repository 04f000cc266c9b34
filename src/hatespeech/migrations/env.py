"""Alembic's environment: run on the connection :mod:`hatespeech.store` passes (in its locked transaction), or,
from the alembic command, on ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from hatespeech.store import Base

config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as opened:
        context.configure(connection=opened, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
