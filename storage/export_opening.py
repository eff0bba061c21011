"""An export's answers as read, and decrypted: the data that passes between the reading
(`storage.export_reading`, `storage.export_work`) and the writing (`storage.export_records`,
`storage.export_formats`), and the decryption between them.

Decryption is most of what an answer costs (two AES-GCM fields and a JSON value), so it is
written for speed: `opened` does what `Keyring.decrypt` does, without its per-call overhead, and
hands the answers layout tuples it writes straight from (`iso_time` for the time), where the
responses layout and Parquet get `Row`s (`decrypted`).
"""

from __future__ import annotations

import json
from binascii import a2b_base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.crypto import FORMAT, NONCE_BYTES, CryptoError
from storage.records import _aad


class Row(NamedTuple):
    """One decrypted answer with its subject's channel."""

    subject_id: str
    response_id: str
    channel: str
    flow_id: str
    flow_version: int
    step_id: str
    occurrence: int
    ask_type: str
    purpose: str
    verbatim: str
    value: Any
    answered_at: datetime
    probe: str | None
    followup: str | None


# The answer columns read, in this order (`Batch.rows`).
COLUMNS = (
    "subject_id",
    "conversation_id",
    "response_id",
    "flow_id",
    "flow_version",
    "step_id",
    "occurrence",
    "ask_type",
    "purpose",
    "verbatim_enc",
    "value_enc",
    "created_at",
    "probe",
    "followup_enc",
)


class Whose(NamedTuple):
    """What a batch carries about one of its subjects: their data key, their channel, and the
    purposes whose consent of theirs is in force."""

    key: bytes
    channel: str
    purposes: frozenset[str]


@dataclass(frozen=True)
class Batch:
    """Answers as read (still encrypted: `COLUMNS`), and what a worker process needs to keep
    and decrypt them: each subject to export, and what `Whose` says about them. An answer of
    a subject not named here, or for a purpose not in force, is left out."""

    subjects: dict[str, Whose]
    rows: list[tuple[Any, ...]]


def decrypted(brand: str, batch: Batch) -> list[Row]:
    """A batch's answers, decrypted (in a worker process, for a large export). `opened`'s
    tuples are `Row`'s fields in order; only the time (index 11) is turned into a datetime."""
    return [
        _ROW(
            Row,
            (*a[:11], utc(at) if isinstance(at := a[11], datetime) else _sqlite_time(at), *a[12:]),
        )
        for a in opened(brand, batch)
    ]


# The C scanner `json.loads` reads a string with (not in typeshed's stubs).
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_ROW = tuple.__new__  # a Row from a tuple without NamedTuple's Python-level __new__
_SEALED = FORMAT + ":"  # how every ciphertext starts (`storage.crypto.seal`)
_SKIP = len(_SEALED)
_UNKNOWN_FORMAT = "unknown ciphertext format"  # `crypto.open_with`'s errors, word for word
_NOT_ITS_OWN = "ciphertext does not match its key or context"
_NOT_SEEN = object()


def opened(brand: str, batch: Batch) -> Iterator[tuple[Any, ...]]:
    """A batch's answers that leave the store, decrypted, as tuples in `Row`'s order, the time
    still as the database gave it (the answers layout writes it as text, `iso_time`).

    What `Keyring.decrypt` does (`crypto.open_with`), with the batch's keys and without its
    per-call overhead: each field is bound to the brand and subject (as `Keyring` binds it)
    and to its answer (`records._aad`); one AES-GCM key schedule serves a subject's
    consecutive answers, and a value seen before in the batch (a choice, a scale point) is
    parsed once.
    """
    subjects = batch.subjects
    values: dict[str, Any] = {}
    subject_of: str | None = None
    whose: Whose | None = None
    aead: Any = None
    prefix = ""
    for (
        subject,
        conversation,
        response,
        flow_id,
        version,
        step,
        occurrence,
        ask_type,
        purpose,
        verbatim,
        value,
        at,
        probe,
        followup,
    ) in batch.rows:
        if subject != subject_of:
            subject_of, whose = subject, subjects.get(subject)
            if whose is not None:
                aead, prefix = AESGCM(whose.key), f"{brand}|{subject}|"
        if whose is None or purpose not in whose.purposes:
            continue
        # The context of each field ends with the field's name (`records._aad`).
        context = (prefix + _aad(conversation, flow_id, step, "")).encode()
        try:  # `_open` for the two fields every answer has, inlined (two calls an answer)
            if not verbatim.startswith(_SEALED):
                raise CryptoError(_UNKNOWN_FORMAT)
            raw = a2b_base64(verbatim[_SKIP:])
            said = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context + b"verbatim")
            verbatim = said.decode()
            if not value.startswith(_SEALED):
                raise CryptoError(_UNKNOWN_FORMAT)
            raw = a2b_base64(value[_SKIP:])
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context + b"value").decode()
        except InvalidTag:
            raise CryptoError(_NOT_ITS_OWN) from None
        parsed = values.get(plain, _NOT_SEEN)
        if parsed is _NOT_SEEN:
            parsed = _parsed(plain)
            # A list is kept as a tuple and each answer gets its own copy (JSON has no tuples).
            values[plain] = tuple(parsed) if type(parsed) is list else parsed
        elif type(parsed) is tuple:
            parsed = list(parsed)
        yield (
            subject,
            response,
            whose.channel,
            flow_id,
            version,
            step,
            occurrence or 1,
            ask_type,
            purpose,
            verbatim,
            parsed,
            at,
            probe,
            (_open(aead, followup, context + b"followup").decode() or None) if followup else None,
        )


def _open(aead: AESGCM, token: str, aad: bytes) -> bytes:
    """`crypto.open_with`, inlined: the same checks, the same errors."""
    if not token.startswith(_SEALED):
        raise CryptoError(_UNKNOWN_FORMAT)
    raw = a2b_base64(token[_SKIP:])
    try:
        return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
    except InvalidTag:
        raise CryptoError(_NOT_ITS_OWN) from None


def _parsed(text: str) -> Any:
    """`json.loads(text)`, a JSON string (most values) read by the C scanner `loads` itself
    uses, without `loads`'s per-call overhead; anything else, or anything it would refuse, by
    `loads`."""
    if text[:1] == '"':
        try:
            found, end = _scanstring(text, 1, True)
        except ValueError:
            return json.loads(text)
        if end == len(text):
            return found
    return json.loads(text)


def _sqlite_time(at: str) -> datetime:
    """SQLite's text: UTC, written without its offset (or, by older writers, with one)."""
    return utc(datetime.fromisoformat(at if at[-6:-5] in ("+", "-") else at + "+00:00"))


def iso_time(at: Any) -> str:
    """What `utc(answered_at).isoformat()` writes, from the time as the database gave it:
    parsed as written (no zone: UTC) and written again without converting a zone."""
    if isinstance(at, datetime):
        return utc(at).isoformat()
    if at[-6:-5] not in ("+", "-"):
        naive = datetime.fromisoformat(at)  # checked as before: a bad time still fails
        if naive.tzinfo is None:
            if len(at) == 26 and at[10] == " " and at[19] == ".":
                # As SQLAlchemy writes it, which parsed is `isoformat`'s own text but for
                # the separator (and no fraction when it is zero): no need to write it again.
                return f"{at[:10]}T{at[11:] if naive.microsecond else at[11:19]}+00:00"
            return naive.isoformat() + "+00:00"
    return _sqlite_time(at).isoformat()


def utc(at: datetime) -> datetime:
    """Times are stored in UTC; SQLite hands them back without their zone."""
    if at.tzinfo is UTC:
        return at
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
