"""Engines and sessions: one shared registry, and one store per brand.

The embedded default is SQLite, one file per brand under the data directory, so a laptop needs
no server. A session is always bound to exactly one brand's store.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, delete, event, select
from sqlalchemy.orm import Session, sessionmaker

from storage.crypto import KeyShredded, MasterKeys, new_data_key, open_sealed, seal
from storage.schema import BrandStoreBase, KeyMeta, KeyStoreBase, RegistryBase, SubjectKey

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
    """Hands out sessions for the registry, each brand's store and each brand's key store."""

    def __init__(self, data_dir: Path, *, master: MasterKeys | None = None) -> None:
        self.data_dir = data_dir
        self.registry_engine = _sqlite_engine(data_dir / "registry.db")
        RegistryBase.metadata.create_all(self.registry_engine)
        self._registry = sessionmaker(self.registry_engine, expire_on_commit=False)
        self._brand_engines: dict[str, Engine] = {}
        self._key_engines: dict[str, Engine] = {}
        self._tracker: Engine | None = None
        self._lock = threading.Lock()
        self.master = master or MasterKeys.from_env(_local_secret(data_dir))

    def brand_path(self, brand: str) -> Path:
        if not _SLUG.match(brand):
            raise UnknownBrand(brand)
        return self.data_dir / "brands" / f"{brand}.db"

    def key_path(self, brand: str) -> Path:
        """Kept apart from the data file: back it up separately, with short retention."""
        return self.data_dir / "keys" / f"{self.brand_path(brand).stem}.keys.db"

    def brand_engine(self, brand: str) -> Engine:
        with self._lock:
            engine = self._brand_engines.get(brand)
            if engine is None:
                engine = _sqlite_engine(self.brand_path(brand))
                BrandStoreBase.metadata.create_all(engine)
                self._brand_engines[brand] = engine
            return engine

    def key_engine(self, brand: str) -> Engine:
        with self._lock:
            engine = self._key_engines.get(brand)
            if engine is None:
                engine = _sqlite_engine(self.key_path(brand))
                KeyStoreBase.metadata.create_all(engine)
                self._key_engines[brand] = engine
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

    @contextmanager
    def keys(self, brand: str) -> Iterator[Session]:
        with Session(self.key_engine(brand), expire_on_commit=False) as session:
            yield session

    def tracker_engine(self) -> Engine:
        """Rasa's SQL tracker store (embedded default: a SQLite file in the data dir)."""
        with self._lock:
            if self._tracker is None:
                self._tracker = _sqlite_engine(self.data_dir / "rasa_tracker.db")
            return self._tracker

    def keyring(self, brand: str) -> Keyring:
        return Keyring(self, brand)

    def dispose(self) -> None:
        for engine in (*self._brand_engines.values(), *self._key_engines.values()):
            engine.dispose()
        if self._tracker is not None:
            self._tracker.dispose()
        self.registry_engine.dispose()


def _local_secret(data_dir: Path) -> bytes:
    """The embedded default's installation secret (shared with `Settings.key`)."""
    path = data_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


class Keyring:
    """Encrypts and decrypts one brand's verbatims with per-subject data keys."""

    def __init__(self, stores: Stores, brand: str) -> None:
        self.stores, self.brand = stores, brand

    def _master_version(self, session: Session) -> int:
        meta = session.get(KeyMeta, 1)
        stored = meta.master_version if meta else 1
        return self.stores.master.latest_version(self.brand, stored)

    def _aad(self, subject_id: str, context: str) -> bytes:
        return f"{self.brand}|{subject_id}|{context}".encode()

    def data_key(self, subject_id: str, *, create: bool) -> bytes:
        with self.stores.keys(self.brand) as session:
            row = session.get(SubjectKey, subject_id)
            if row is None:
                if not create:
                    raise KeyShredded(subject_id)
                version = self._master_version(session)
                key = new_data_key()
                master = self.stores.master.key(self.brand, version)
                session.add(
                    SubjectKey(
                        subject_id=subject_id,
                        master_version=version,
                        wrapped_key=seal(master, key, self._aad(subject_id, "data-key")),
                    )
                )
                session.commit()
                return key
            master = self.stores.master.key(self.brand, row.master_version)
            return open_sealed(master, row.wrapped_key, self._aad(subject_id, "data-key"))

    def encrypt(self, subject_id: str, text: str, context: str) -> str:
        key = self.data_key(subject_id, create=True)
        return seal(key, text.encode(), self._aad(subject_id, context))

    def decrypt(self, subject_id: str, token: str, context: str) -> str:
        key = self.data_key(subject_id, create=False)
        return open_sealed(key, token, self._aad(subject_id, context)).decode()

    def shred(self, subject_id: str) -> bool:
        with self.stores.keys(self.brand) as session:
            deleted = session.execute(
                delete(SubjectKey).where(SubjectKey.subject_id == subject_id)
            ).rowcount
            session.commit()
        return bool(deleted)

    def rotate(self, *, to_version: int | None = None) -> tuple[int, int]:
        """Re-wrap every data key under a newer master key version; returns (version, count)."""
        with self.stores.keys(self.brand) as session:
            meta = session.get(KeyMeta, 1) or KeyMeta(id=1, master_version=1)
            session.add(meta)
            if self.brand in self.stores.master.configured:
                version = self.stores.master.latest_version(self.brand, meta.master_version)
            else:
                version = to_version or meta.master_version + 1
            new_master = self.stores.master.key(self.brand, version)
            count = 0
            for row in session.scalars(select(SubjectKey)):
                aad = self._aad(row.subject_id, "data-key")
                key = open_sealed(
                    self.stores.master.key(self.brand, row.master_version), row.wrapped_key, aad
                )
                row.wrapped_key = seal(new_master, key, aad)
                row.master_version = version
                count += 1
            meta.master_version = version
            session.commit()
        return version, count
