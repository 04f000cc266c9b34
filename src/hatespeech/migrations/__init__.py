"""Alembic migrations of the feedback database (:mod:`hatespeech.store` runs them; never edit one that shipped).

Add one: ``alembic -c src/hatespeech/migrations/alembic.ini revision -m "what changes"`` writes a new file in
``versions/`` from ``script.py.mako``; fill in ``upgrade()`` (and ``downgrade()``), then change the ORM classes in
``store.py`` to match. ``tests/test_store.py`` fails while the two differ.
"""
