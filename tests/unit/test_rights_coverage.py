"""Erasure and export cover every table that can reference a subject (a meta-test)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import String, Text, inspect, select, text

from actions.consent_context import purposes_summary
from storage import rights
from storage.schema import BrandStoreBase
from tests.factories_store import BRAND, seeded
from tests.pg import StoreBackend

EXPORT_KEYS = {
    "answers": "answers",
    "subject_tags": "tags",
    "consent_events": "consent_history",
    "subjects": "subject_id",
    "customer_links": "purchases_linked",
    "transactions": "transactions",
    "content_sent": "content_sent",
    "followers": "following",
    "deliveries": "updates_sent",
    "subject_facts": "answers",  # segment facts derived from the answers, exported as them
    "webhook_deliveries": "shared_with",
    "webhook_recipients": "shared_with",
}


def subject_tables() -> set[str]:
    return {
        name
        for name, table in BrandStoreBase.metadata.tables.items()
        if "subject_id" in table.columns
    }


def test_every_subject_table_is_covered_by_erasure_and_export() -> None:
    tables = subject_tables()
    missing = tables - set(rights.SUBJECT_TABLES)
    assert not missing, f"add {missing} to storage.rights.SUBJECT_TABLES, erasure and export"
    assert tables <= set(EXPORT_KEYS), "map the new table to its key in the export"


def test_after_erasure_no_row_anywhere_mentions_the_subject(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    data.shares("alice", "needs")  # sent to a webhook endpoint (storage/webhooks.py)
    with data.stores.brand(BRAND) as session:
        exported = rights.export_subject(
            session,
            data.stores.keyring(BRAND),
            brand=BRAND,
            subject_id="alice",
            purposes=purposes_summary(data.flow),
        )
        for table in subject_tables():
            assert exported[EXPORT_KEYS[table]], f"export is missing {table}"
        rights.erase_subject(session, data.stores.keyring(BRAND), subject_id="alice")
        session.commit()
    engine = data.stores.brand_engine(BRAND)
    with engine.connect() as conn:
        for name in inspect(engine).get_table_names():
            model = BrandStoreBase.metadata.tables.get(name)
            columns = (
                [c.name for c in model.columns if isinstance(c.type, String | Text)]
                if model is not None
                else []
            )
            for column in columns:
                hits = conn.execute(
                    text(f'SELECT count(*) FROM "{name}" WHERE "{column}" LIKE \'%alice%\'')
                ).scalar_one()
                assert hits == 0, f"{name}.{column} still mentions the subject"
        bob = conn.execute(text("SELECT count(*) FROM answers WHERE subject_id = 'bob'"))
        assert bob.scalar_one() == 2
    with data.stores.keys(BRAND) as session:
        from storage.schema import SubjectKey

        assert session.scalars(select(SubjectKey.subject_id)).all() == ["bob"]
