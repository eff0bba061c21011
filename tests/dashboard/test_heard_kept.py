"""Themes and quality kept in the store (`storage.heard_kept`): a restart shows them without
hearing again, and any erasure takes them with it, down to the bytes once reclaimed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.settings import Settings
from storage import heard, rights
from storage.heard_kept import HeardKept
from storage.schema import Answer
from tests.dashboard.factories import BRAND, Crowd, K
from tests.pg import StoreBackend
from tests.stack import make_settings


@pytest.fixture
def crowd_settings(tmp_path: Path, store_backend: StoreBackend) -> Settings:
    """On SQLite files and on PostgreSQL schemas."""
    return make_settings(
        tmp_path,
        purge_interval_s=0,
        database_url=store_backend.database_url,
        schema_prefix=store_backend.prefix,
    )


def hear(crowd: Crowd) -> Any:
    with crowd.stores.brand(BRAND) as session:
        return heard.heard(crowd.stores, session, crowd.stores.keyring(BRAND), BRAND, crowd.flow, K)


def kept_rows(crowd: Crowd) -> int:
    with crowd.stores.brand(BRAND) as session:
        return session.scalar(select(func.count()).select_from(HeardKept)) or 0


def test_a_restart_shows_the_kept_themes_without_hearing_again(
    crowd: Crowd, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = hear(crowd)
    assert first[0]  # themes
    assert first[1]  # quality
    assert kept_rows(crowd) == 1
    heard._heard_cache.clear()  # what a restarted process starts with

    def deaf(*_: Any, **__: Any) -> Any:
        raise AssertionError("heard again although the answers did not change")

    import nlu.analysis.themes

    monkeypatch.setattr(nlu.analysis.themes, "find_themes", deaf)
    monkeypatch.setattr(nlu.analysis.themes, "find_theme_groups", deaf)
    again = hear(crowd)
    assert list(again) == json.loads(json.dumps(list(first)))  # as served, JSON


def test_an_erasure_takes_the_kept_themes_with_it(
    crowd: Crowd, store_backend: StoreBackend
) -> None:
    themes = hear(crowd)[0]
    quotes = [q for t in themes for q in t["quotes"] if q.replace(" ", "").isalnum()]
    assert quotes
    crowd.stores.dispose()
    assert quotes[0].encode() in store_backend.raw_brand_data(BRAND)  # kept in clear: counted
    with crowd.stores.brand(BRAND) as session:
        subject = session.scalar(select(Answer.subject_id).limit(1))
        assert subject is not None
        rights.erase_subject(session, crowd.stores.keyring(BRAND), subject_id=subject)
        assert session.scalar(select(func.count()).select_from(HeardKept)) == 0  # same transaction
        session.commit()
    rights.reclaim(crowd.stores, BRAND)
    crowd.stores.dispose()
    raw = store_backend.raw_brand_data(BRAND)
    assert not [q for q in quotes if q.encode() in raw]
