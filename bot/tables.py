"""Every table of every feature in one metadata, for Alembic, ``create_all`` and erasure.

A feature adds tables by defining them on ``storage.models.Base`` in its own storage module;
nothing lists them. Finding those modules is the composition root's work (like ``FEATURES``):
storage itself never imports by name at run time.
"""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy import MetaData

import storage
from storage import models

# Modules under storage/ that define no table (or import the others).
_NO_TABLES = {"db", "migrations", "migrate", "crypto"}


def load_models() -> MetaData:
    """Import every storage module, then let storage use the complete metadata."""
    for info in pkgutil.iter_modules(storage.__path__):
        if info.name not in _NO_TABLES:
            importlib.import_module(f"storage.{info.name}")
    models.mark_complete()
    return models.Base.metadata
