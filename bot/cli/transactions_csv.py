"""Reading a brand's purchase export (CSV): every row checked before anything is imported.

Errors name the row (as a spreadsheet shows it, the header being row 1) and the column, and say
what to write instead. One bad row means nothing is imported.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from storage.commerce import Purchase

COLUMNS = ("customer_id", "purchased_at", "amount", "currency", "product", "category")
OPTIONAL = ("age_band", "region")
AGE_BANDS = ("under-18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
MAPPING_COLUMNS = ("customer_id", "channel", "user_id")
CHANNELS = ("web", "api", "cli", "slack", "telegram")
MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column '{self.column}': {self.message}"


class CsvInvalid(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(errors)
        self.errors = errors


def _rows(path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()):
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CsvInvalid([RowError(0, "-", f"cannot read {path} ({exc.strerror})")]) from None
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        unknown = [c for c in header if c not in required + optional]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing column(s): {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown column(s): {', '.join(unknown)}")
            raise CsvInvalid(
                [
                    RowError(
                        1,
                        ",".join(missing or unknown),
                        "; ".join(parts) + f". Expected: {', '.join(required + optional)}",
                    )
                ]
            )
        try:
            yield from enumerate(reader, start=2)
        except csv.Error as exc:
            raise CsvInvalid([RowError(reader.line_num, "-", f"broken CSV ({exc})")]) from None


def read_purchases(path: Path, *, max_errors: int = 50) -> list[Purchase]:
    purchases: list[Purchase] = []
    errors: list[RowError] = []
    for number, row in _rows(path, COLUMNS, OPTIONAL):
        if number > MAX_ROWS + 1:
            raise CsvInvalid([RowError(number, "-", f"more than {MAX_ROWS} rows; split the file")])
        problems = _check(number, row)
        if problems:
            errors.extend(problems)
            if len(errors) >= max_errors:
                break
            continue
        purchases.append(_purchase(row))
    if errors:
        raise CsvInvalid(errors)
    return purchases


def _check(number: int, row: dict[str, str | None]) -> list[RowError]:
    errors = []
    for column in COLUMNS:
        if not (row.get(column) or "").strip():
            errors.append(RowError(number, column, "is empty"))
    if errors:
        return errors
    try:
        _when(row["purchased_at"] or "")
    except ValueError:
        errors.append(
            RowError(
                number,
                "purchased_at",
                f"'{row['purchased_at']}' is not a date; "
                "write e.g. 2026-03-14 or 2026-03-14T10:30:00Z",
            )
        )
    try:
        amount = Decimal(row["amount"] or "")
        exponent = amount.as_tuple().exponent  # a letter for NaN and infinities
        if amount < 0 or amount > Decimal("10000000") or not isinstance(exponent, int):
            raise InvalidOperation
        if exponent < -2:
            raise InvalidOperation
    except InvalidOperation:
        errors.append(
            RowError(
                number,
                "amount",
                f"'{row['amount']}' is not an amount; write "
                "a number such as 129.90 (at most 2 decimals, not negative)",
            )
        )
    currency = (row["currency"] or "").strip()
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        errors.append(
            RowError(number, "currency", f"'{currency}' is not an ISO 4217 code; write e.g. EUR")
        )
    for column, limit in (
        ("customer_id", 200),
        ("product", 200),
        ("category", 100),
        ("region", 100),
    ):
        if len(row.get(column) or "") > limit:
            errors.append(RowError(number, column, f"longer than {limit} characters"))
    band = (row.get("age_band") or "").strip()
    if band and band not in AGE_BANDS:
        errors.append(
            RowError(
                number,
                "age_band",
                f"'{band}' is not an age band; use one of {', '.join(AGE_BANDS)}",
            )
        )
    return errors


def _when(text: str) -> datetime:
    text = text.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _purchase(row: dict[str, str | None]) -> Purchase:
    return Purchase(
        customer_id=(row["customer_id"] or "").strip(),
        purchased_at=_when(row["purchased_at"] or ""),
        amount_cents=int(Decimal(row["amount"] or "0") * 100),
        currency=(row["currency"] or "").strip(),
        product=(row["product"] or "").strip(),
        category=(row["category"] or "").strip(),
        age_band=(row.get("age_band") or "").strip() or None,
        region=(row.get("region") or "").strip() or None,
    )


def read_mapping(path: Path) -> list[tuple[str, str, str]]:
    """The brand's explicit customer id -> (channel, user id) mapping."""
    out, errors = [], []
    for number, row in _rows(path, MAPPING_COLUMNS):
        values = {c: (row.get(c) or "").strip() for c in MAPPING_COLUMNS}
        for column, value in values.items():
            if not value:
                errors.append(RowError(number, column, "is empty"))
        if values["channel"] and values["channel"] not in CHANNELS:
            errors.append(
                RowError(
                    number,
                    "channel",
                    f"'{values['channel']}' is not a channel; use one of {', '.join(CHANNELS)}",
                )
            )
        out.append((values["customer_id"], values["channel"], values["user_id"]))
    if errors:
        raise CsvInvalid(errors)
    return out
