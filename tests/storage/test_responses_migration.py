"""brand_0004 on a store with data: answers stored before responses become their
conversation's response, still readable; content records say where they came from; a
downgrade that would have to drop answers refuses instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text

from storage import migrations, records
from storage.schema import Answer, ContentSent
from tests.factories_store import BRAND, seeded
from tests.pg import StoreBackend


def _migrate(engine, revision: str) -> None:
    with engine.begin() as conn:
        cfg = migrations.config("brand", conn)
        if revision == "head":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)


def test_rows_from_before_responses_are_their_conversations_response(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    with data.stores.brand(BRAND) as session:
        session.add(
            ContentSent(subject_id="alice", item_id="trail-shoe-guide", tailored=True, reason="x")
        )
        session.commit()
    engine = data.stores.brand_engine(BRAND)
    _migrate(engine, "brand_0003")
    with engine.connect() as conn:
        columns = conn.execute(text("SELECT * FROM answers")).keys()
        assert not {"response_id", "occurrence", "rectifications"} & set(columns)
    _migrate(engine, "head")

    keyring = data.stores.keyring(BRAND)
    with data.stores.brand(BRAND) as session:
        rows = session.scalars(select(Answer).order_by(Answer.id)).all()
        assert len(rows) == 4
        assert all(r.response_id == r.conversation_id for r in rows)
        assert {(r.occurrence, r.rectifications, r.rectified_at) for r in rows} == {(1, 0, None)}
        assert [records.view(r, keyring).verbatim for r in rows if r.subject_id == "alice"] == [
            "a rain jacket",
            "queues at the till",
        ]
        sent = {
            c.item_id: json.loads(c.purposes_json) for c in session.scalars(select(ContentSent))
        }
        assert sent == {"generic": [], "trail-shoe-guide": ["*"]}
        # A second response of the same conversation now has a place of its own.
        again = records.record_answer(
            session,
            keyring,
            subject_id="alice",
            conversation_id=rows[0].conversation_id,
            flow_brand=BRAND,
            flow_id=rows[0].flow_id,
            flow_version=rows[0].flow_version,
            step_id=rows[0].step_id,
            ask_type=rows[0].ask_type,
            purpose=rows[0].purpose,
            verbatim="trail shoes",
            value="trail shoes",
            response_id="second-run",
        )
        session.commit()
        assert again.id != rows[0].id
        assert records.view(rows[0], keyring).verbatim == "a rain jacket"


def test_a_downgrade_that_would_drop_answers_refuses(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    keyring = data.stores.keyring(BRAND)
    with data.stores.brand(BRAND) as session:
        first = session.scalars(select(Answer).order_by(Answer.id)).first()
        assert first is not None
        records.record_answer(
            session,
            keyring,
            subject_id=first.subject_id,
            conversation_id=first.conversation_id,
            flow_brand=BRAND,
            flow_id=first.flow_id,
            flow_version=first.flow_version,
            step_id=first.step_id,
            ask_type=first.ask_type,
            purpose=first.purpose,
            verbatim="trail shoes",
            value="trail shoes",
            response_id="second-run",
        )
        session.commit()
    engine = data.stores.brand_engine(BRAND)
    with pytest.raises(RuntimeError, match="several responses"):
        _migrate(engine, "brand_0003")
    with engine.connect() as conn:
        assert migrations.current(conn) == migrations.head("brand")
        assert conn.execute(text("SELECT count(*) FROM answers")).scalar_one() == 5
