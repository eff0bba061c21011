"""k-anonymity for published counts: threshold and complementary suppression, in one place.

Every figure a brand sees must describe at least k people. Hiding the small cells is not
enough: a breakdown publishes a total and its parts, so one hidden part is the total minus the
shown ones, and two small hidden parts still add up to a figure about fewer than k people. So
figures are described as cells (a value, and how many people it describes) and equations
(`total = sum(parts)`, what anyone can add up from the page), and `protect` returns the cells to
hide such that:

1. every shown cell is 0 or describes at least k people (the threshold rule);
2. for every equation whose total can be known (shown, or added up from shown parts), the parts
   that cannot be known add up to 0 or to at least k (complementary suppression: no hidden part,
   nor a group of them, is recovered by subtracting shown figures from a shown total).

What a reader can work out is found by linear algebra over all the equations at once (a hidden
cell, or a sum of hidden parts, is known when it lies in the row space of the equations on the
hidden cells), so a complement that another equation gives away does not count as hidden.
Cells that are never published (the people who did not pick an option, who did not answer a
question) take part as hidden cells: they are figures a reader can compute. When a rule breaks,
the smallest shown non-zero part of the equation is hidden too, else its total; this repeats
until nothing breaks. Zeros are shown: they describe nobody.

Pure: no I/O, no storage imports, so the property test drives it directly.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Key = Hashable


@dataclass(frozen=True)
class Equation:
    """`total` is the sum of `parts`: what a reader can add up from what is published."""

    total: Key
    parts: tuple[Key, ...]


class _Reader:
    """What a reader can work out from the shown cells and the equations: any linear
    combination of hidden cells that lies in the row space of the equations restricted to the
    hidden cells (the shown cells move to the right-hand side). Exact for sums and differences
    across several equations, which a rule applied one equation at a time would miss.

    The matrix is block diagonal: hidden cells that no equation links fall into separate
    components, and a combination lies in the row space exactly when its part in each component
    lies in that component's. So each component gets its own small SVD, kept in `bases` across
    the rounds of `protect` while the component is unchanged, instead of one SVD of every
    equation each time a cell is hidden (most of a report's suppression cost)."""

    def __init__(
        self,
        cells: list[Key],
        hidden: set[Key],
        equations: Sequence[Equation],
        bases: dict[tuple[tuple[int, ...], tuple[Key, ...]], np.ndarray] | None = None,
    ) -> None:
        bases = {} if bases is None else bases
        order = [c for c in cells if c in hidden]
        parent = {c: c for c in order}

        def root(c: Key) -> Key:
            while parent[c] != c:
                parent[c] = parent[parent[c]]
                c = parent[c]
            return c

        touched: list[list[Key]] = []
        for eq in equations:
            mine = [c for c in (eq.total, *eq.parts) if c in parent]
            touched.append(mine)
            for other in mine[1:]:
                parent[root(other)] = root(mine[0])
        members: dict[Key, list[Key]] = {}
        for c in order:
            members.setdefault(root(c), []).append(c)
        rows: dict[Key, list[int]] = {}
        for index, mine in enumerate(touched):
            if mine:
                rows.setdefault(root(mine[0]), []).append(index)
        self.component = {c: root(c) for c in order}
        self.columns: dict[Key, dict[Key, int]] = {}
        self.basis: dict[Key, np.ndarray] = {}
        for top, cols in members.items():
            self.columns[top] = {c: i for i, c in enumerate(cols)}
            shape = (tuple(rows.get(top, ())), tuple(cols))
            if shape not in bases:
                bases[shape] = _basis([equations[i] for i in shape[0]], self.columns[top])
            self.basis[top] = bases[shape]

    def determines(self, keys: Iterable[Key]) -> bool:
        """Whether the sum of these hidden cells can be worked out."""
        wanted: dict[Key, np.ndarray] = {}
        for key in keys:
            top = self.component[key]
            if top not in wanted:
                wanted[top] = np.zeros(len(self.columns[top]))
            wanted[top][self.columns[top][key]] = 1
        for top, c in wanted.items():
            basis = self.basis[top]
            rest = c - basis.T @ (basis @ c)
            if not np.abs(rest).max(initial=0.0) < 1e-7:
                return False
        return True


def _basis(equations: Sequence[Equation], columns: dict[Key, int]) -> np.ndarray:
    """An orthonormal basis of the row space of `equations` on the hidden cells `columns`."""
    matrix = np.zeros((len(equations), len(columns)))
    for row, eq in enumerate(equations):
        if eq.total in columns:
            matrix[row, columns[eq.total]] += 1
        for p in eq.parts:
            if p in columns:
                matrix[row, columns[p]] -= 1
    if not matrix.size:
        return np.zeros((0, len(columns)))
    _, sv, vt = np.linalg.svd(matrix, full_matrices=False)
    return vt[: int((sv > 1e-9).sum())]


def protect(
    values: Mapping[Key, int],
    equations: Sequence[Equation],
    k: int,
    *,
    unpublished: Iterable[Key] = (),
    people: Mapping[Key, int] | None = None,
) -> frozenset[Key]:
    """The cells to hide (the `unpublished` ones included), by the two rules above.

    `people` gives, where it differs from the value, how many distinct people a cell describes
    (a count of answers may hold one person twice); the threshold applies to it.
    """
    who = people or {}

    def small(key: Key) -> bool:
        return 0 < who.get(key, values[key]) < k or 0 < values[key] < k

    cells = list(values)
    hidden = set(unpublished) | {key for key in cells if small(key)}
    bases: dict[tuple[tuple[int, ...], tuple[Key, ...]], np.ndarray] = {}
    while True:
        reader = _Reader(cells, hidden, equations, bases)
        lone = next((c for c in cells if c in hidden and small(c) and reader.determines([c])), None)
        if lone is not None:
            hidden.add(_around(lone, values, hidden, equations, cells))
            continue
        broken = next((eq for eq in equations if _exposed(eq, values, hidden, reader, k)), None)
        if broken is None:
            return frozenset(hidden)
        hidden.add(_complement(broken, values, hidden, equations, cells))


def _exposed(
    eq: Equation, values: Mapping[Key, int], hidden: set[Key], reader: _Reader, k: int
) -> bool:
    """Whether the hidden parts of `eq` add up, for a reader, to fewer than k people."""
    group = [p for p in eq.parts if p in hidden]
    rest = sum(values[p] for p in group)
    return 0 < rest < k and reader.determines(group)


def _smallest(keys: Iterable[Key], values: Mapping[Key, int], hidden: set[Key]) -> Key | None:
    shown = sorted((values[c], str(c), c) for c in set(keys) if c not in hidden and values[c] > 0)
    return shown[0][2] if shown else None


def _around(
    cell: Key,
    values: Mapping[Key, int],
    hidden: set[Key],
    equations: Sequence[Equation],
    cells: list[Key],
) -> Key:
    """The next cell to hide for a hidden cell a reader can work out: the smallest shown
    non-zero cell of an equation it is in, else of any equation."""
    near = [m for eq in equations if cell in (eq.total, *eq.parts) for m in (eq.total, *eq.parts)]
    found = _smallest(near, values, hidden)
    if found is None:
        found = _smallest(cells, values, hidden)
    if found is None:  # only zeros are shown: nothing non-zero can be worked out from them
        raise AssertionError("a hidden count was determined by zeros alone")
    return found


def _complement(
    eq: Equation,
    values: Mapping[Key, int],
    hidden: set[Key],
    equations: Sequence[Equation],
    cells: list[Key],
) -> Key:
    """The next cell to hide for a broken equation: its smallest shown non-zero part, else its
    total, else a cell around it."""
    found = _smallest(eq.parts, values, hidden)
    if found is not None:
        return found
    if eq.total not in hidden:
        return eq.total
    return _around(eq.total, values, hidden, equations, cells)


def share(part: int | None, total: int | None) -> float | None:
    """A share is published only with both of its figures: otherwise it gives the hidden one
    away (part = share * total)."""
    if part is None or total is None or total == 0:
        return None
    return round(part / total, 3)


class Sheet:
    """The figures of one report being built: cells, their equations, then what to hide."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.values: dict[Key, int] = {}
        self.people: dict[Key, int] = {}
        self.equations: list[Equation] = []
        self.unpublished: set[Key] = set()
        self._hidden: frozenset[Key] | None = None

    def cell(
        self, key: Key, value: int, *, people: int | None = None, published: bool = True
    ) -> Key:
        self.values[key] = int(value)
        if people is not None:
            self.people[key] = people
        if not published:
            self.unpublished.add(key)
        return key

    def equation(self, total: Key, parts: Iterable[Key]) -> None:
        self.equations.append(Equation(total, tuple(parts)))

    def hidden(self) -> frozenset[Key]:
        if self._hidden is None:
            self._hidden = protect(
                self.values,
                self.equations,
                self.k,
                unpublished=self.unpublished,
                people=self.people,
            )
        return self._hidden

    def shown(self, key: Key) -> int | None:
        """The cell's value, or None when it is hidden (or was never added)."""
        if key not in self.values or key in self.hidden():
            return None
        return self.values[key]
