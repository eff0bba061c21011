"""What the language analysis hears in a brand's newest free texts: themes and answer quality.

Both read the newest `THEME_SAMPLE` free-text answers (decrypted: themes quote them, redacted)
and depend on no filter of the report, so the last result is kept in the process, per store and
brand, and in the store (`storage.heard_kept`), with the stamp of the answers table it was heard
from (`heard`). Every figure follows the report's k rule.

Themes are heard per language: each answer in the language it was given in (`Answer.language`;
None, from before languages were recorded, is the flow's default), with that language's spaCy
pipeline and stop words, and each theme shown describes at least k people (`themes_of`).
"""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import func, select

from storage import heard_kept, records
from storage.crypto import KeyShredded
from storage.schema import Answer
from storage.stores import Stores

THEME_SAMPLE = 20_000  # the most recent free-text answers analysed for themes
THEMES_SHOWN = 10  # per language
# (themes, quality, languages): themes carry their `language`; `languages` are those that at
# least k people of the sample answered in, most answers first (others are never named).
Heard = tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]
# Part of the stamp: what was kept before themes were heard per language is heard again.
_HEARD_FORMAT = "by-language"
# Themes and quality by store and brand, with the stamp of the answers they were heard from.
_heard_cache: WeakKeyDictionary[Stores, dict[str, tuple[Any, Heard]]] = WeakKeyDictionary()
_guard = threading.Lock()


def heard(stores: Stores, session: Any, keyring: Any, brand: str, flow: Any, k: int) -> Heard:
    """Themes and answer quality: what the language analysis heard in the latest free texts.

    They depend on no filter, only on the answers stored, so the last result is kept (in this
    process only, one per store and brand) with the stamp of the answers table it was heard
    from (how many, the highest id, the latest change) and reused while the stamp holds: a
    filtered view or a recompute of an unchanged store does not parse twenty thousand texts
    again. Any answer stored, changed or deleted (erasure, withdrawal, retention) changes the
    stamp, so no theme or quote outlives what it came from past the next report. The result is
    also kept in the store (`storage.heard_kept`), so a restarted process need not load spaCy to
    show it; a writer that deletes or changes an answer clears that row in its transaction.
    """
    rows = Answer.__table__
    stamp = answers_stamp(session, (flow.id, flow.version, k, _HEARD_FORMAT))
    with _guard:
        kept = _heard_cache.setdefault(stores, {}).get(brand)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    # Kept in the store by an earlier process: a restart need not load spaCy to show it.
    stored = heard_kept.read(session, stamp)
    if stored is not None:
        with _guard:
            _heard_cache.setdefault(stores, {})[brand] = (stamp, stored)
        return stored
    free_text = session.execute(
        select(rows)
        .where(rows.c.ask_type == "free_text")
        .order_by(rows.c.id.desc())
        .limit(THEME_SAMPLE)
    ).all()
    keyring.preload({row.subject_id for row in free_text})  # the sample's keys, not all
    views = list(readable(records.view, free_text, keyring))
    last_said: dict[str, Any] = {
        response: at
        for response, at in session.execute(
            select(rows.c.response_id, func.max(rows.c.created_at)).group_by(rows.c.response_id)
        )
    }
    themes, languages = themes_of(views, language_of(flow.language), k)
    result: Heard = (themes, quality(flow, views, last_said, k), languages)
    with _guard:
        _heard_cache.setdefault(stores, {})[brand] = (stamp, result)
    heard_kept.keep(session, stamp, result)
    return result


def language_of(language: str | None) -> str:
    """Two lower-case letters ("en-GB" -> "en")."""
    return (language or "en")[:2].lower()


def themes_of(
    views: list[records.AnswerView], default: str, k: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """The themes of each language at least k people answered in, and those languages.

    Each language is its own corpus (TF-IDF over several would mostly find the languages), heard
    with its own stop words and pipeline. The k rule is the one themes always had, applied per
    language and to people: a theme is shown when at least k answers and k different people
    fall in it (one person's three answers are not a theme). A language fewer than k people
    answered in is neither heard nor named. At most `THEMES_SHOWN` themes per language.
    """
    from nlu.analysis.themes import find_theme_groups  # spaCy and scikit-learn load on first use

    by_language: dict[str, list[records.AnswerView]] = defaultdict(list)
    for view in views:
        by_language[language_of(view.language or default)].append(view)
    themes: list[dict[str, Any]] = []
    languages: list[str] = []
    for language, said in sorted(by_language.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if len({v.subject_id for v in said}) < k:
            continue
        languages.append(language)
        groups = find_theme_groups([v.verbatim for v in said], language=language)
        chosen = [
            (theme, members)
            for theme, members in groups
            if theme.size >= k and len({said[j].subject_id for j in members}) >= k
        ][:THEMES_SHOWN]
        themes.extend(
            {**theme.model_dump(), "language": language}
            for theme, _ in complemented(chosen, said, k)
        )
    return themes, languages


def complemented(shown: list[Any], said: list[records.AnswerView], k: int) -> list[Any]:
    """`shown` themes (theme, the indexes of its answers in `said`), less the smallest when
    what they leave out would be a figure about fewer than k: complementary suppression, as
    `storage.kanon` does for counts.

    A theme's share is of the language's analysed answers, so the page gives that total away
    (size / share), and with it how many answers fall in no shown theme (themes partition the
    answers: each is in one group). That rest must be 0, or at least k answers of at least k
    people. Leaving out the smallest shown theme (itself k answers of k people at least) makes
    it so; only then is one left out.
    """
    inside = {int(j) for _, members in shown for j in members}
    # Blank answers are not analysed, so not in the total a share is of.
    rest = [v for j, v in enumerate(said) if j not in inside and v.verbatim.strip()]
    if not rest or not shown or (len(rest) >= k and len({v.subject_id for v in rest}) >= k):
        return shown
    smallest = min(range(len(shown)), key=lambda i: (shown[i][0].size, -i))
    return [group for i, group in enumerate(shown) if i != smallest]


# The stamp read last in a session, with the transaction it was read in.
_STAMP = "candor.answers_stamp"


def answers_stamp(session: Any, rest: tuple[Any, ...]) -> tuple[Any, ...]:
    """What themes and quality were heard from: the answers table's count, highest id and
    latest change (any answer stored, changed or deleted changes it), then `rest` (the flow's
    id and version, k). Read once per transaction of the session: a count at a million answers
    is a tenth of a second, and a report asked for it twice."""
    transaction = session.get_transaction()
    kept = session.info.get(_STAMP)
    if kept is not None and transaction is not None and kept[0] is transaction:
        return (kept[1], *rest)  # a report reads it for the themes and for the choice
    rows = Answer.__table__
    # Three scalar subqueries, not one select of three aggregates: SQLite answers each alone
    # from a b-tree's ends or its count fast path (12 ms at a million answers), but scans
    # every entry of an index for the three together (0.2 s).
    now = tuple(
        session.execute(
            select(
                select(func.count()).select_from(rows).scalar_subquery(),
                select(func.max(rows.c.id)).scalar_subquery(),
                select(func.max(rows.c.updated_at)).scalar_subquery(),
            )
        ).one()
    )
    session.info[_STAMP] = (session.get_transaction(), now)
    return (now, *rest)


def _share(hits: int, total: int, k: int) -> float | None:
    """A share of answers, shown only when both what it counts and the rest are 0 or at least
    k: with the count of answers shown, the share gives both away."""
    if not total or 0 < hits < k or 0 < total - hits < k:
        return None
    return round(hits / total, 3)


def _dropped(group: list[records.AnswerView], last_said: dict[str, Any], k: int) -> float | None:
    """The share of `group` after which its response has no later answer."""
    ended = sum(1 for v in group if last_said.get(v.response_id) == v.created_at)
    return _share(ended, len(group), k)


def quality(
    flow: Any, views: list[records.AnswerView], last_said: dict[str, Any], k: int
) -> list[dict[str, Any]]:
    """Per free-text question, how much its answers say: so a brand can reword a question.

    Every figure follows the report's k rule: a question answered by fewer than k people shows
    none, and the probe figures need k probed people of their own (a handful of probed
    customers would otherwise be described one by one). Vagueness is heard by
    `nlu.listening.listen_many` on the first words, exactly what the bot heard when it chose to
    probe; "informative after the probe" hears the follow-up against the probe's own question.
    Drop-off is the share of answers after which the response recorded nothing more; it is not
    given for a flow's last question, where stopping is the end and not a drop.
    """
    from nlu.listening import listen_many  # spaCy loads on first use, as for themes

    asks = [s.ask for s in flow.steps if hasattr(s, "ask")]
    last_ask = asks[-1].id if asks else None
    by_step: dict[str, list[records.AnswerView]] = defaultdict(list)
    for view in views:
        by_step[view.step_id].append(view)
    out: list[dict[str, Any]] = []
    for ask in asks:
        if ask.kind.value != "free_text":
            continue
        answers = by_step.get(ask.id, [])
        people = len({v.subject_id for v in answers})
        row: dict[str, Any] = {"step": ask.id, "people": people if people >= k else None}
        figures = dict.fromkeys(
            (
                "answers",
                "vague_share",
                "median_words",
                "median_informativeness",
                "probed",
                "probe_informative_share",
                "dropoff_after_probe",
                "dropoff_without_probe",
            )
        )
        if people < k:
            out.append({**row, **figures})
            continue
        heard = _listen(flow, ask.id, answers)
        probed = [v for v in answers if v.probed]
        plain = [v for v in answers if not v.probed]
        figures.update(
            answers=len(answers),
            vague_share=_share(sum(h.vague for h in heard), len(heard), k),
            median_words=statistics.median(len(v.text.split()) for v in answers),
            median_informativeness=round(statistics.median(h.informativeness for h in heard), 3),
        )
        if ask.id != last_ask and len({v.subject_id for v in plain}) >= k:
            figures["dropoff_without_probe"] = _dropped(plain, last_said, k)
        # `probed` with `answers` shown gives the unprobed away: both need k, or none.
        unprobed = len({v.subject_id for v in plain})
        if len({v.subject_id for v in probed}) >= k and (unprobed == 0 or unprobed >= k):
            followups = [
                listen_many([v.followup], v.probe or "", v.language or flow.language)[0]
                if v.followup
                else None
                for v in probed
            ]
            figures.update(
                probed=len(probed),
                probe_informative_share=_share(
                    sum(1 for f in followups if f is not None and not f.vague), len(probed), k
                ),
            )
            if ask.id != last_ask:
                figures["dropoff_after_probe"] = _dropped(probed, last_said, k)
        out.append({**row, **figures})
    return out


def _listen(flow: Any, step: str, answers: list[records.AnswerView]) -> list[Any]:
    """What listening hears in each answer, in its own language against the question as that
    language's customers read it (answers from before languages were recorded: the flow's)."""
    from consent_flows.translations import localized
    from nlu.listening import listen_many

    by_language: dict[str, list[int]] = defaultdict(list)
    for i, view in enumerate(answers):
        by_language[language_of(view.language or flow.language)].append(i)
    heard: list[Any] = [None] * len(answers)
    for language, positions in by_language.items():
        ask = localized(flow, language).asks().get(step)
        question = ask.text[0] if ask is not None else ""
        said = listen_many([answers[i].verbatim for i in positions], question, language)
        for i, one in zip(positions, said, strict=True):
            heard[i] = one
    return heard


def readable(decrypt: Any, rows: Any, keyring: Any, *, pair: bool = False) -> Any:
    """Decrypted answers; a subject erased while the report runs is left out, not an error."""
    for row in rows:
        try:
            plain = decrypt(row, keyring)
        except KeyShredded:
            continue
        yield (row, plain) if pair else plain
