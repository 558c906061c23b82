"""The in-memory adapters pass the shipped contract suites."""

from __future__ import annotations

from pathlib import Path

from mlc_progress.adapters import InMemoryCatalog, InMemoryStore
from mlc_progress.testing.contract import CatalogContract, RepositoryContract


class TestInMemoryStore(RepositoryContract):
    def make_store(self, tmp_path: Path) -> InMemoryStore:
        return InMemoryStore()


class TestInMemoryCatalog(CatalogContract):
    def make_catalog(self, tmp_path: Path) -> InMemoryCatalog:
        return InMemoryCatalog()
