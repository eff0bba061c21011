"""Engines and sessions: one shared registry, and one store per brand.

The embedded default is SQLite, one file per brand under the data directory, so a laptop needs
no server. A session is always bound to exactly one brand's store.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from storage.schema import BrandStoreBase, RegistryBase

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class UnknownBrand(LookupError):
    def __init__(self, brand: str) -> None:
        super().__init__(brand)
        self.brand = brand


def _sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class Stores:
    """Hands out sessions for the registry and for each brand's own store."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.registry_engine = _sqlite_engine(data_dir / "registry.db")
        RegistryBase.metadata.create_all(self.registry_engine)
        self._registry = sessionmaker(self.registry_engine, expire_on_commit=False)
        self._brand_engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def brand_path(self, brand: str) -> Path:
        if not _SLUG.match(brand):
            raise UnknownBrand(brand)
        return self.data_dir / "brands" / f"{brand}.db"

    def brand_engine(self, brand: str) -> Engine:
        with self._lock:
            engine = self._brand_engines.get(brand)
            if engine is None:
                engine = _sqlite_engine(self.brand_path(brand))
                BrandStoreBase.metadata.create_all(engine)
                self._brand_engines[brand] = engine
            return engine

    @contextmanager
    def registry(self) -> Iterator[Session]:
        with self._registry() as session:
            yield session

    @contextmanager
    def brand(self, brand: str) -> Iterator[Session]:
        """A session on one brand's store; commits are the caller's to make."""
        with Session(self.brand_engine(brand), expire_on_commit=False) as session:
            yield session

    def dispose(self) -> None:
        for engine in self._brand_engines.values():
            engine.dispose()
        self.registry_engine.dispose()
