"""Reference adapters for the ports of :mod:`mlc_progress`.

- :class:`InMemoryStore`, :class:`InMemoryCatalog`, :class:`InMemoryEventSink`:
  everything in memory, thread-safe; the reference the contract suite
  describes, and the adapter tests use.
- :class:`SQLiteStore` (with its catalog): the embedded default, on the
  standard library's ``sqlite3``.
- :class:`SystemClock` and :class:`FixedClock`.

Both stores pass :class:`mlc_progress.testing.contract.RepositoryContract`.
"""

from __future__ import annotations

from .clock import FixedClock, SystemClock
from .memory import (
    InMemoryCatalog,
    InMemoryEventSink,
    InMemoryStore,
    InMemoryUnitOfWork,
    Published,
)
from .sqlite import SQLiteCatalog, SQLiteStore, SQLiteUnitOfWork

__all__ = [
    "FixedClock",
    "InMemoryCatalog",
    "InMemoryEventSink",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "Published",
    "SQLiteCatalog",
    "SQLiteStore",
    "SQLiteUnitOfWork",
    "SystemClock",
]
