"""The SQLite adapters pass the shipped contract suites, across reopening."""

from __future__ import annotations

from pathlib import Path

from mlc_progress._ports import Store
from mlc_progress.adapters import SQLiteCatalog, SQLiteStore
from mlc_progress.testing.contract import CatalogContract, RepositoryContract


class TestSQLiteStore(RepositoryContract):
    def make_store(self, tmp_path: Path) -> SQLiteStore:
        return SQLiteStore(tmp_path / "progress.db")

    def reopen(self, store: Store) -> SQLiteStore:
        assert isinstance(store, SQLiteStore)
        store.close()
        return SQLiteStore(store.path)


class TestSQLiteCatalog(CatalogContract):
    def make_catalog(self, tmp_path: Path) -> SQLiteCatalog:
        return SQLiteStore(tmp_path / "progress.db").catalog

    def close(self, catalog: SQLiteCatalog) -> None:
        catalog.store.close()
