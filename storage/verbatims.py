"""The verbatims of a free-text question, a page at a time, redacted like the theme quotes.

Shown only when the question has at least k respondents under the report's filters
(`results.load` chooses them, one answer per respondent); only the page's answers are
decrypted. Each is redacted in the language it was given in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent_flows.model import AskType, Flow
from storage import records
from storage.crypto import KeyShredded
from storage.results import PAGE_SIZE, Filters, InvalidFilter, UnknownQuestion, load
from storage.schema import Answer
from storage.stores import Keyring


def verbatims(
    session: Session,
    keyring: Keyring,
    flow: Flow,
    question: str,
    filters: Filters,
    k: int,
    *,
    members: set[str] | None = None,
    page: int = 1,
    search: str | None = None,
) -> dict[str, Any]:
    """A page of a free-text question's verbatims, newest first, redacted like theme quotes.

    Shown only when the question has at least k respondents under the same filters; the
    match count of a search is shown only at k or more (the page itself lists what matched).
    """
    from nlu.analysis.pii import redact  # spaCy loads on first use, as for themes

    ask = flow.asks().get(question)
    if ask is None:
        raise UnknownQuestion(question)
    if ask.kind is not AskType.FREE_TEXT:
        raise InvalidFilter(
            "question_id",
            f"'{question}' is a {ask.kind.value} question; verbatims are for free-text ones",
        )
    said = [s for s in load(session, keyring, flow, filters, members) if s.step_id == question]
    base: dict[str, Any] = {
        "question": {"id": ask.id, "text": ask.text[0]},
        "filters": filters.as_dict(),
        "page": page,
        "page_size": PAGE_SIZE,
        "min_size": k,
    }
    if len(said) < k:
        return {
            **base,
            "respondents": None,
            "total": None,
            "items": [],
            "pages": 0,
            "message": f"Verbatims appear once {k} people have answered this question.",
        }
    wanted = {s.id for s in said}
    rows = session.execute(
        select(Answer)
        .where(Answer.id.in_(sorted(wanted)))
        .order_by(Answer.created_at.desc(), Answer.id.desc())
    ).scalars()
    needle = (search or "").casefold().strip()
    matched: list[str] = []
    for row in _views(rows, keyring):
        # Each answer with its own language's pipeline (names found by the French model's NER).
        text = redact(row.text, language=row.language or flow.language).text
        if needle and needle not in text.casefold():
            continue
        matched.append(text)
    start = (page - 1) * PAGE_SIZE
    total = len(matched)
    return {
        **base,
        "respondents": len(said),
        "total": total if total == 0 or total >= k else None,
        "pages": max(1, -(-total // PAGE_SIZE)),
        # Text only: a date next to one person's words would help single them out.
        "items": [{"text": text} for text in matched[start : start + PAGE_SIZE]],
    }


def _views(rows: Iterable[Answer], keyring: Keyring) -> Iterator[records.AnswerView]:
    for row in rows:
        try:
            yield records.view(row, keyring)
        except KeyShredded:
            continue
