"""CSV parts of an export are written by the standard writer unless a cell could start a
formula; then by `defusedcsv` (and `inert`). Either way the bytes must be what `defusedcsv`
writes for every cell: a fast path that let one formula through would be a CSV injection."""

from __future__ import annotations

import csv
import io
import random
from typing import Any

from defusedcsv import csv as defused_csv  # type: ignore[import-untyped]

from storage import exports

STARTS = ["=", "+", "-", "@", "|", "%", "\t", "\r", '"', ",", "\n", "'", " ", "a", "1", ""]
TAILS = ["", "1+2", 'HYPERLINK("http://evil.example","x")', "cmd|' /C calc'!A0", "a,b", '"q"']


def reference(rows: list[list[Any]]) -> bytes:
    """Every cell through `defusedcsv`, after `inert`: what the export promises."""
    buffer = io.StringIO()
    defused_csv.writer(buffer).writerows([exports.inert(c) for c in row] for row in rows)
    return buffer.getvalue().encode()


def cell(rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.1:
        return None
    if kind < 0.2:
        return rng.choice([0, 7, -3, 2.5])
    text = rng.choice(STARTS) + rng.choice(TAILS)
    if rng.random() < 0.3:  # a formula start after a comma or a line break inside the text
        text = rng.choice(["x", "a b"]) + rng.choice([",", "\n", ", "]) + text
    return text


def test_any_cell_that_could_start_a_formula_is_defused_wherever_it_is() -> None:
    rng = random.Random(16)
    slow = 0
    for _ in range(400):
        rows = [[cell(rng) for _ in range(rng.randint(1, 6))] for _ in range(rng.randint(1, 4))]
        assert exports.csv_part(rows) == reference(rows), rows
        plain = io.StringIO()
        csv.writer(plain).writerows(rows)
        slow += plain.getvalue().encode() != reference(rows)
    assert slow > 50, "the random rows hardly ever needed defusing: the test tests nothing"


def test_each_formula_start_in_each_column_and_row() -> None:
    benign = ["bench-0000001", "web", "trailhead", 3, "need", 1, "a rain jacket", None]
    for start in ("=", "+", "-", "@", "|", "%", "\t", "\r"):
        for column in range(len(benign)):
            for row in range(3):
                rows = [list(benign) for _ in range(3)]
                rows[row][column] = start + "1+2"
                written = exports.csv_part(rows)
                assert written == reference(rows), (start, column, row)
                assert f",{start}1+2".encode() not in written
                assert not written.startswith(f"{start}1".encode())


def test_plain_parts_take_the_fast_path() -> None:
    """Dates, hyphenated ids and negative-looking text inside cells need no defusing."""
    rows = [["trail-running", "2026-11-02T10:00:00+00:00", "ok - fine", 3, None]] * 5
    plain = io.StringIO()
    csv.writer(plain).writerows(rows)
    assert exports.csv_part(rows) == plain.getvalue().encode() == reference(rows)
