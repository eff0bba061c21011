"""Engines and sessions: one shared registry, and one store per brand.

The embedded default is SQLite, one file per brand under the data directory, so a laptop needs
no server. With `CANDOR_DATABASE_URL` the same code runs on PostgreSQL, one schema per brand
(`storage/backends.py`). A session is always bound to exactly one brand's store. Each store is
brought to the latest migration (`storage/migrations`) the first time a process opens it.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, delete, insert, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from storage import migrations, registry
from storage.backends import (
    PostgresBackend,
    SqliteBackend,
    StoreUnavailable,
    open_backend,
)
from storage.crypto import (
    KeyShredded,
    MasterKeys,
    installation_secret,
    new_data_key,
    open_sealed,
    open_with,
    seal,
)
from storage.schema import KeyMeta, SubjectKey, rowcount

__all__ = ["Keyring", "StoreUnavailable", "Stores", "UnknownBrand"]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class UnknownBrand(LookupError):
    def __init__(self, brand: str) -> None:
        super().__init__(brand)
        self.brand = brand


class Stores:
    """Hands out sessions for the registry, each brand's store and each brand's key store.

    `database_url` (a PostgreSQL URL) selects one schema per store in that database instead of
    files under `data_dir`; `schema_prefix` goes in front of every schema and role name there.
    Without `master`, keys derive from the installation secret in `data_dir` (the embedded
    default); configured master keys come from `Settings.open_stores`, never the environment.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        master: MasterKeys | None = None,
        database_url: str | URL | None = None,
        schema_prefix: str = "",
    ) -> None:
        self.data_dir = data_dir
        self.master = master or MasterKeys(installation_secret(data_dir))
        # On PostgreSQL each store's role logs in with a password derived from the same secret
        # as the master keys, so every replica (and the engine, bot/engine/supervisor.py) agrees on
        # it.
        self.backend: SqliteBackend | PostgresBackend = open_backend(
            data_dir, database_url, schema_prefix, role_secret=self.master.secret
        )
        self.backend.check()
        self.registry_engine = self.backend.registry_engine()
        self._migrate(self.registry_engine, "registry")
        self._registry = sessionmaker(self.registry_engine, expire_on_commit=False)
        self._brand_engines: dict[str, Engine] = {}
        self._key_engines: dict[str, Engine] = {}
        self._tracker: Engine | None = None
        self._known_brands: set[str] = set()
        self._lock = threading.Lock()
        # Close pooled connections even if the caller never calls dispose() (e.g. a CLI run).
        self._engines: list[Engine] = [self.registry_engine]
        weakref.finalize(self, _dispose, self._engines, self.backend)

    @property
    def dialect(self) -> str:
        """`sqlite` (embedded default) or `postgresql`."""
        return self.backend.dialect

    def _migrate(self, engine: Engine, target: str) -> None:
        migrations.upgrade(engine, target)

    def _slug(self, brand: str) -> str:
        if not _SLUG.match(brand):
            raise UnknownBrand(brand)
        return brand

    def brand_path(self, brand: str) -> Path:
        """The brand's SQLite file (embedded default)."""
        return SqliteBackend(self.data_dir).brand_path(self._slug(brand))

    def key_path(self, brand: str) -> Path:
        """Kept apart from the data file: back it up separately, with short retention."""
        return SqliteBackend(self.data_dir).key_path(self._slug(brand))

    def brand_location(self, brand: str) -> str:
        """Where the brand's data lives: its file, or its PostgreSQL schema."""
        return self.backend.brand_location(self._slug(brand))

    def key_location(self, brand: str) -> str:
        """Where the brand's keys live: never the same file or schema as its data."""
        return self.backend.key_location(self._slug(brand))

    def brand_engine(self, brand: str) -> Engine:
        """The brand's store, created and migrated the first time this process opens it."""
        slug = self._slug(brand)
        with self._lock:
            engine = self._brand_engines.get(slug)
            if engine is None:
                self.backend.provision_brand(slug)
                engine = self.backend.brand_engine(slug)
                self._migrate(engine, "brand")
                self._brand_engines[slug] = engine
                self._engines.append(engine)
            return engine

    def key_engine(self, brand: str) -> Engine:
        slug = self._slug(brand)
        with self._lock:
            engine = self._key_engines.get(slug)
            if engine is None:
                self.backend.provision_brand(slug)
                engine = self.backend.key_engine(slug)
                self._migrate(engine, "keys")
                self._key_engines[slug] = engine
                self._engines.append(engine)
            return engine

    def migrate_all(self, brands: list[str]) -> dict[str, bool]:
        """Upgrade the registry and every named brand's two stores; True where something ran."""
        done = {"(registry)": migrations.upgrade(self.registry_engine, "registry")}
        for brand in brands:
            ran = migrations.upgrade(self.brand_engine(brand), "brand")
            done[brand] = migrations.upgrade(self.key_engine(brand), "keys") or ran
        return done

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

    def brand_exists(self, brand: str) -> bool:
        """Whether the registry knows `brand`, remembered once seen.

        Brands are registered and never removed, so a yes stays true; a no is asked again
        (another gateway may register the brand). This saves a registry query on every turn.
        """
        if brand in self._known_brands:
            return True
        with self.registry() as session:
            if registry.get_brand(session, slug=brand) is None:
                return False
        self._known_brands.add(brand)
        return True

    def know_brands(self) -> int:
        """Remember every brand registered now (one query), so `brand_exists` answers them
        without one: a gateway calls it at start, off its event loop. Returns how many."""
        with self.registry() as session:
            slugs = {brand.slug for brand in registry.list_brands(session)}
        self._known_brands |= slugs
        return len(slugs)

    def reachable(self) -> bool:
        """Whether the registry's database answers now: tells a store outage from an engine one
        when a turn fails (checked only then, never on the hot path)."""
        try:
            with self.registry_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (DBAPIError, StoreUnavailable):
            return False
        return True

    def tracker_engine(self) -> Engine:
        """Rasa's SQL tracker store: the same file, or the same schema, that the engine uses."""
        with self._lock:
            if self._tracker is None:
                self._tracker = self.backend.tracker_engine()
                self._engines.append(self._tracker)
            return self._tracker

    def keyring(self, brand: str) -> Keyring:
        return Keyring(self, brand)

    def dispose(self) -> None:
        """Close pooled connections; the stores stay usable (engines reconnect on demand)."""
        _dispose(self._engines, self.backend)


def _dispose(engines: list[Engine], backend: SqliteBackend | PostgresBackend) -> None:
    for engine in engines:
        engine.dispose()
    backend.dispose()


class Keyring:
    """Encrypts and decrypts one brand's verbatims with per-subject data keys."""

    def __init__(self, stores: Stores, brand: str) -> None:
        self.stores, self.brand = stores, brand
        # Unwrapped keys, for this short-lived keyring only (one request or one report).
        self._cache: dict[str, bytes] = {}
        # The last subject's key, set up for AES-GCM: an answer has two fields to decrypt, and a
        # subject's answers often come together. One only: each holds a cipher's key schedule.
        self._aead: tuple[str, AESGCM] | None = None

    def _master_version(self, session: Session) -> int:
        meta = session.get(KeyMeta, 1)
        stored = meta.master_version if meta else 1
        return self.stores.master.latest_version(self.brand, stored)

    def _aad(self, subject_id: str, context: str) -> bytes:
        return f"{self.brand}|{subject_id}|{context}".encode()

    def preload(self, subject_ids: Iterable[str] | None = None) -> int:
        """Unwrap many subjects' data keys at once, for reports that decrypt many subjects.

        One read of the key store instead of a session per subject (`None`: every key of the
        brand). Erased subjects have no key and are skipped, so decrypting their data still
        raises `KeyShredded`. Returns how many keys this keyring now holds.
        """
        query = select(SubjectKey.subject_id, SubjectKey.wrapped_key, SubjectKey.master_version)
        if subject_ids is None:
            batches = [query]
        else:
            wanted = sorted(set(subject_ids) - self._cache.keys())
            batches = [
                query.where(SubjectKey.subject_id.in_(wanted[i : i + 500]))
                for i in range(0, len(wanted), 500)
            ]
        masters: dict[int, bytes] = {}
        with self.stores.keys(self.brand) as session:
            for batch in batches:
                for subject_id, wrapped, version in session.execute(batch):
                    if subject_id in self._cache:
                        continue
                    if version not in masters:
                        masters[version] = self.stores.master.key(self.brand, version)
                    self._cache[subject_id] = open_sealed(
                        masters[version], wrapped, self._aad(subject_id, "data-key")
                    )
        return len(self._cache)

    def create_keys(self, subject_ids: Iterable[str]) -> None:
        """Create the data keys of many new subjects in one insert, for bulk loads (imports,
        benchmarks): one commit per key, as `data_key(create=True)` does, is what makes a
        million-subject load slow. The keys stay unwrapped in this keyring for what follows."""
        with self.stores.keys(self.brand) as session:
            version = self._master_version(session)
            master = self.stores.master.key(self.brand, version)
            rows = []
            for subject_id in subject_ids:
                key = new_data_key()
                rows.append(
                    {
                        "subject_id": subject_id,
                        "master_version": version,
                        "wrapped_key": seal(master, key, self._aad(subject_id, "data-key")),
                    }
                )
                self._cache[subject_id] = key
            if rows:
                session.execute(insert(SubjectKey), rows)
                session.commit()

    def forget_keys(self) -> None:
        """Drop the unwrapped keys this keyring holds (a bulk load's memory, chunk by chunk)."""
        self._cache.clear()
        self._aead = None

    def data_key(self, subject_id: str, *, create: bool) -> bytes:
        if subject_id in self._cache:
            return self._cache[subject_id]
        key = self._load_key(subject_id, create=create)
        self._cache[subject_id] = key
        return key

    def _load_key(self, subject_id: str, *, create: bool) -> bytes:
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
        last = self._aead
        if last is None or last[0] != subject_id:
            last = self._aead = (subject_id, AESGCM(self.data_key(subject_id, create=False)))
        return open_with(last[1], token, self._aad(subject_id, context)).decode()

    def shred(self, subject_id: str) -> bool:
        self._cache.pop(subject_id, None)
        if self._aead is not None and self._aead[0] == subject_id:
            self._aead = None
        with self.stores.keys(self.brand) as session:
            deleted = rowcount(
                session.execute(delete(SubjectKey).where(SubjectKey.subject_id == subject_id))
            )
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
