"""Gateway replicas write to one brand's store at the same moment (PostgreSQL).

Each thread stands for a replica: its own `Stores`, its own connections.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from actions.consent_context import consent_context
from consent_flows.loader import load_flow_file
from storage import funnel, ledger, records
from storage.schema import FunnelCount
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.pg import PG_URL

pytestmark = pytest.mark.postgres
BRAND = "basics-store"
REPLICAS = 6


def _together(work: Callable[[Stores, int], None], replicas: list[Stores]) -> list[BaseException]:
    start, errors = threading.Barrier(len(replicas)), []

    def run(stores: Stores, index: int) -> None:
        try:
            start.wait()
            work(stores, index)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s, i)) for i, s in enumerate(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@pytest.fixture
def replicas(tmp_path: Path, pg_prefix: str) -> Iterator[list[Stores]]:
    opened = [
        Stores(tmp_path / "data", database_url=PG_URL, schema_prefix=pg_prefix)
        for _ in range(REPLICAS)
    ]
    yield opened
    for stores in opened:
        stores.dispose()


def test_first_consent_events_of_a_brand_from_several_replicas(replicas: list[Stores]) -> None:
    flow = load_flow_file(EXAMPLES / f"{BRAND}.yaml")
    ctx = consent_context(flow, "needs", step_id="consent_needs", channel="api", method="button")

    def consent(stores: Stores, index: int) -> None:
        with stores.brand(BRAND) as session:
            records.ensure_subject(session, subject_id=f"s{index}", channel="api")
            records.record_consent(session, subject_id=f"s{index}", event="given", ctx=ctx)
            session.commit()

    assert _together(consent, replicas) == []
    with replicas[0].brand(BRAND) as session:
        assert ledger.verify(session) == (REPLICAS, [])


def test_funnel_counts_from_several_replicas_add_up(replicas: list[Stores]) -> None:
    def count(stores: Stores, _: int) -> None:
        for _ in range(20):
            with stores.brand(BRAND) as session:
                funnel.bump(
                    session, flow_id="main", flow_version=1, step_id="need", event="reached"
                )
                session.commit()

    assert _together(count, replicas) == []
    with replicas[0].brand(BRAND) as session:
        rows = session.scalar(select(func.count()).select_from(FunnelCount))
        total = session.scalar(select(func.sum(FunnelCount.count)))
    assert (rows, total) == (1, REPLICAS * 20)
