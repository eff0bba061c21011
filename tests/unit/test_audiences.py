"""Segments (k-anonymous, consent- and objection-aware), tailored content, purchase import."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from actions.runtime import Runtime
from bot.brands import AUDIENCES, publish_audiences, publish_flow_file
from consent_flows.audiences import ContentLibrary, Segments, check_segments
from consent_flows.loader import FlowInvalid, load_document
from storage import commerce, records, rights
from storage.schema import ContentSent, Subject, Transaction
from tests.factories import EXAMPLES
from tests.factories_store import BRAND, Seeded

FLOW = EXAMPLES / "trailhead-outfitters.yaml"


@pytest.fixture
def crowd(tmp_path: Path) -> tuple[Runtime, Seeded]:
    from consent_flows.loader import load_flow_file
    from storage.stores import Stores

    stores = Stores(tmp_path / "data")
    publish_flow_file(stores, FLOW)
    publish_audiences(stores, AUDIENCES)
    data = Seeded(stores, load_flow_file(FLOW))
    for n in range(12):
        add(data, f"runner{n:02d}", "running", ["weight"])
    for n in range(3):
        add(data, f"hiker{n}", "hiking", ["price"])
    add(data, "no-tips", "running", ["weight"], tailored=False)
    add(data, "objector", "running", ["weight"])
    with stores.brand(BRAND) as session:
        objector = session.get(Subject, "objector")
        assert objector is not None
        objector.objects_to_profiling = True
        session.commit()
    return Runtime(stores=stores, control_threshold=0.8), data


def add(
    data: Seeded, subject: str, activity: str, priorities: list[str], tailored: bool = True
) -> None:
    data.consent(subject, "needs")
    data.answer(subject, "activity", activity)
    ask = data.flow.asks()["priorities"]
    with data.stores.brand(BRAND) as session:
        records.record_answer(
            session,
            data.stores.keyring(BRAND),
            subject_id=subject,
            conversation_id=f"c-{subject}",
            flow_brand=BRAND,
            flow_id=data.flow.id,
            flow_version=data.flow.version,
            step_id="priorities",
            ask_type=ask.kind.value,
            purpose="needs",
            verbatim=", ".join(priorities),
            value=priorities,
        )
        session.commit()
    if tailored:
        data.consent(subject, "tailored_content")


def test_segments_count_only_consenting_non_objecting_subjects(crowd) -> None:
    runtime, _ = crowd
    audience = runtime.audiences.compute(BRAND, fresh=True)
    assert audience.eligible == 15  # 12 runners + 3 hikers; not 'no-tips', not 'objector'
    assert audience.members["runners"] == {f"runner{n:02d}" for n in range(12)}
    assert audience.visible == {"runners": 12, "weight_conscious": 12}
    assert "hikers" in audience.suppressed
    assert "price_sensitive" in audience.suppressed


def test_membership_is_reproducible_and_follows_erasure(crowd) -> None:
    runtime, data = crowd
    first = runtime.audiences.compute(BRAND, fresh=True).fingerprint
    assert runtime.audiences.compute(BRAND, fresh=True).fingerprint == first
    for n in range(3):
        with data.stores.brand(BRAND) as session:
            rights.erase_subject(session, data.stores.keyring(BRAND), subject_id=f"runner{n:02d}")
            session.commit()
    after = runtime.audiences.compute(BRAND, fresh=True)
    assert after.fingerprint != first
    assert "runners" not in after.visible, "9 runners is below k = 10: no longer shown or used"


def test_tailored_content_explains_itself_and_is_recorded(crowd) -> None:
    runtime, data = crowd
    flow = runtime.flow(BRAND)
    with data.stores.brand(BRAND) as session:
        text = runtime.audiences.choose(
            session,
            data.stores.keyring(BRAND),
            brand=BRAND,
            flow=flow,
            subject_id="runner05",
            fallback=None,
        )
        session.commit()
    assert "trail-shoe guide" in text
    assert "Because you told us about running" in text
    with data.stores.brand(BRAND) as session:
        [sent] = session.query(ContentSent).filter_by(subject_id="runner05").all()
    assert (sent.item_id, sent.tailored) == ("trail-shoe-guide", True)


def test_without_tailored_consent_or_below_k_the_generic_item_is_sent(crowd) -> None:
    runtime, data = crowd
    flow = runtime.flow(BRAND)
    with data.stores.brand(BRAND) as session:
        keyring = data.stores.keyring(BRAND)
        for subject in ("no-tips", "objector", "hiker1"):
            text = runtime.audiences.choose(
                session, keyring, brand=BRAND, flow=flow, subject_id=subject, fallback=None
            )
            assert text.startswith("Tip: our store staff"), subject
        session.commit()
        recorded = {c.subject_id for c in session.query(ContentSent).all()}
    assert "no-tips" not in recorded
    assert "objector" not in recorded


def test_segment_conditions_are_checked_against_the_flow() -> None:
    from consent_flows.loader import load_flow_file

    flow = load_flow_file(FLOW)
    bad = """brand: trailhead-outfitters
version: 2
segments:
  x: {description: "typo", when: "activty == 'running'"}
"""
    with pytest.raises(FlowInvalid, match="did you mean 'activity'"):
        load_document(bad, Segments, source="s.yaml", check=lambda s: check_segments(s, flow))
    with pytest.raises(FlowInvalid, match="min_size"):
        load_document(bad.replace("segments:", "min_size: 2\nsegments:"), Segments, source="s.yaml")
    with pytest.raises(FlowInvalid, match="exactly one item"):
        load_document(
            "brand: b\nversion: 1\nitems:\n  - {id: a, text: hi, tags: [x]}\n",
            ContentLibrary,
            source="c.yaml",
        )


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_import_validates_every_row_and_imports_nothing_on_error(
    tmp_path: Path, crowd, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli.app import app

    _, data = crowd
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    csv_file = write(
        tmp_path / "t.csv",
        "customer_id,purchased_at,amount,currency,product,"
        "category\nC1,2026-01-05,49.90,EUR,socks,clothing\n"
        "C2,yesterday,12,EUR,map,books\nC3,2026-01-07,-3,eur,,gear\n",
    )
    result = CliRunner().invoke(app, ["import-transactions", BRAND, str(csv_file)])
    assert result.exit_code == 1
    for expected in (
        "row 3, column 'purchased_at'",
        "row 4, column 'product'",
        "Nothing was imported",
    ):
        assert expected in result.output
    with data.stores.brand(BRAND) as session:
        assert session.query(Transaction).count() == 0


def test_import_links_only_consenting_customers(
    tmp_path: Path, crowd, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli.app import app
    from bot.settings import load_settings

    _, data = crowd
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    # Subjects are pseudonyms of (brand, channel, user id): make two real ones.
    from bot.pseudonym import subject_id

    yes = subject_id(settings.key, brand=BRAND, channel="web", user_id="u-yes")
    no = subject_id(settings.key, brand=BRAND, channel="web", user_id="u-no")
    add(data, yes, "running", ["price"])
    add(data, no, "running", ["price"], tailored=False)
    mapping = write(
        tmp_path / "m.csv", "customer_id,channel,user_id\nC-YES,web,u-yes\nC-NO,web,u-no\n"
    )
    purchases = write(
        tmp_path / "p.csv",
        "customer_id,purchased_at,amount,currency,product,"
        "category,age_band,region\n"
        "C-YES,2026-02-01,120.00,EUR,tent,camping,25-34,Bavaria\n"
        "C-NO,2026-02-02,15.50,EUR,socks,clothing,,\n"
        "C-STRANGER,2026-02-03,9.99,EUR,map,books,,\n",
    )
    result = CliRunner().invoke(
        app, ["import-transactions", BRAND, str(purchases), "--mapping", str(mapping)]
    )
    assert result.exit_code == 0, result.output
    assert "1 purchase(s) imported" in result.output
    flat = " ".join(result.output.split())
    assert "1 skipped without consent" in flat
    assert "1 for customers not linked" in flat
    with data.stores.brand(BRAND) as session:
        rows = session.query(Transaction).all()
        assert [(r.subject_id, r.amount_cents, r.product) for r in rows] == [(yes, 12000, "tent")]
        key = commerce.customer_key(settings.key, BRAND, "C-YES")
        assert key != "C-YES"
        assert "C-YES" not in str(session.query(Transaction).all())
