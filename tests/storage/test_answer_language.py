"""Each answer records the language it was given in (migration brand_0011): the conversation's
language at the time of the answer, carried from the interpreter's state through
`Runtime.apply`; rows from before it read as the flow's default language."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import select, text

from actions.runtime import Runtime
from bot.brands import publish_flow_file
from consent_flows import interpreter
from consent_flows.contract import ConversationState, UserTurn
from consent_flows.translations import localized
from storage import migrations, records
from storage.schema import Answer
from tests.factories import EXAMPLES, pressed, said
from tests.factories_store import BRAND, seeded
from tests.pg import StoreBackend

BIKES = EXAMPLES / "tricky" / "multilingual-bikes.yaml"
BIKES_BRAND = "velo-trois"


def _converse(
    runtime: Runtime, flow_source: object, subject: str, language: str | None, turns: list[UserTurn]
) -> ConversationState:
    """One conversation held in `language` (None: the flow's default), every turn's effects
    carried out as the survey action does: with the state's language after the turn."""
    flow = localized(flow_source, language)  # type: ignore[arg-type]
    result = interpreter.start(flow)
    result.state.language = language
    for turn in turns:
        result = interpreter.step(flow, result.state, turn)
        runtime.apply(
            brand=BIKES_BRAND,
            channel="web",
            subject_id=subject,
            conversation_id=f"{BIKES_BRAND}:web:{subject}",
            effects=result.effects,
            language=result.state.language,
        )
    return result.state


def test_an_answer_given_in_french_is_stored_with_its_language(
    store_backend: StoreBackend,
) -> None:
    stores = store_backend.stores()
    flow = publish_flow_file(stores, BIKES)
    runtime = Runtime(stores=stores, control_threshold=0.8)
    french = [pressed("affirm"), said("route"), said("les voitures garées sur la piste cyclable")]
    _converse(runtime, flow, "amelie", "fr", french)
    english = [pressed("affirm"), said("road"), said("cars parked in the bike lane")]
    _converse(runtime, flow, "sam", None, english)

    keyring = stores.keyring(BIKES_BRAND)
    with stores.brand(BIKES_BRAND) as session:
        rows = session.scalars(select(Answer).order_by(Answer.id)).all()
        stored = {(r.subject_id, r.step_id): r for r in rows}
        assert stored[("amelie", "bike")].language == "fr"
        assert stored[("amelie", "frustration")].language == "fr"
        # The choice is stored as the canonical (English) value, whatever language was shown.
        assert records.view(stored[("amelie", "bike")], keyring).value == "road"
        view = records.view(stored[("amelie", "frustration")], keyring)
        assert (view.verbatim, view.language) == ("les voitures garées sur la piste cyclable", "fr")
        # A conversation in the flow's default language records it too, never NULL.
        assert {stored[("sam", s)].language for s in ("bike", "frustration")} == {"en"}


def test_a_rectification_outside_the_conversation_keeps_the_language(
    store_backend: StoreBackend,
) -> None:
    stores = store_backend.stores()
    flow = publish_flow_file(stores, BIKES)
    runtime = Runtime(stores=stores, control_threshold=0.8)
    _converse(runtime, flow, "amelie", "fr", [pressed("affirm"), said("route")])
    keyring = stores.keyring(BIKES_BRAND)
    with stores.brand(BIKES_BRAND) as session:
        row = session.scalars(select(Answer)).one()
        records.record_answer(  # as the admin API's rectification does: no language given
            session,
            keyring,
            subject_id=row.subject_id,
            conversation_id=row.conversation_id,
            flow_brand=row.flow_brand,
            flow_id=row.flow_id,
            flow_version=row.flow_version,
            step_id=row.step_id,
            ask_type=row.ask_type,
            purpose=row.purpose,
            verbatim="VTT",
            value="mountain",
            response_id=row.response_id,
            rectifies=True,
        )
        session.commit()
        assert session.scalars(select(Answer)).one().language == "fr"


def _migrate(engine: object, revision: str) -> None:
    with engine.begin() as conn:  # type: ignore[attr-defined]
        cfg = migrations.config("brand", conn)
        if revision == "head":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)


def test_rows_from_before_the_column_read_as_the_flows_language(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    engine = data.stores.brand_engine(BRAND)
    _migrate(engine, "brand_0010")
    with engine.connect() as conn:
        assert "language" not in set(conn.execute(text("SELECT * FROM answers")).keys())
    _migrate(engine, "head")
    keyring = data.stores.keyring(BRAND)
    with data.stores.brand(BRAND) as session:
        rows = session.scalars(select(Answer).order_by(Answer.id)).all()
        assert len(rows) == 4
        assert {r.language for r in rows} == {None}  # NULL: the flow's default language
        views = [records.view(r, keyring) for r in rows]
        assert [v.verbatim for v in views if v.subject_id == "alice"] == [
            "a rain jacket",
            "queues at the till",
        ]
        assert {v.language for v in views} == {None}
    # Down again: the answers stay, only their language goes.
    _migrate(engine, "brand_0010")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM answers")).scalar_one() == 4
    _migrate(engine, "head")


def test_the_subjects_own_export_says_which_language_they_answered_in(
    store_backend: StoreBackend,
) -> None:
    stores = store_backend.stores()
    flow = publish_flow_file(stores, BIKES)
    runtime = Runtime(stores=stores, control_threshold=0.8)
    _converse(runtime, flow, "amelie", "fr", [pressed("affirm"), said("route")])
    exported = runtime.export(BIKES_BRAND, "amelie")
    assert [(a["step_id"], a["language"]) for a in exported["answers"]] == [("bike", "fr")]
