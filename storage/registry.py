"""Imports every model module under storage/ so one metadata holds all tables.

Feature modules add tables by defining them on ``storage.models.Base`` in their own file; nothing
has to be listed here, which keeps features from editing a shared list.
"""

from __future__ import annotations

import importlib
import pkgutil

import storage

_SKIP = {"db", "registry", "migrations", "migrate", "crypto"}


def import_all_models() -> None:
    for info in pkgutil.iter_modules(storage.__path__):
        if info.name not in _SKIP:
            importlib.import_module(f"storage.{info.name}")
