"""Hostile flow documents: each one must be refused quickly, with a clear error, by the loader
and by `POST /api/v1/brands/{brand}/flows`.

Small headline cases are files in this folder, so they can be sent by hand
(`curl --data-binary @tests/hostile/billion_laughs.yaml ...`); large ones are generated here, so
the repository does not carry megabytes of brackets. Every case is addressed to the
`basics-store` brand (its otherwise valid example flow at version 2) so that a refusal comes
from parsing, not from the brand check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from consent_flows.loader import MAX_FLOW_BYTES

HERE = Path(__file__).resolve().parent
BASE = (HERE.parent.parent / "consent_flows" / "examples" / "basics-store.yaml").read_bytes()
BASE = BASE.replace(b"version: 1", b"version: 2")


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    # A fragment of the message the refusal must carry: refused for the right reason.
    expect: str

    @property
    def data(self) -> bytes:
        return self.build()


def _file(name: str) -> Callable[[], bytes]:
    return lambda: (HERE / name).read_bytes()


def _extra(tail: bytes) -> Callable[[], bytes]:
    """The valid base flow plus one hostile top-level key."""
    return lambda: BASE + tail


def _replace(old: bytes, new: bytes) -> Callable[[], bytes]:
    def build() -> bytes:
        assert old in BASE
        return BASE.replace(old, new, 1)

    return build


def _laughs_merge() -> bytes:
    lines = [b"brand: basics-store", b"version: 2", b"m0: &m0 {a: lol, b: lol, c: lol}"]
    for i in range(1, 12):
        refs = b", ".join([b"*m%d" % (i - 1)] * 4)
        lines.append(b"m%d: &m%d {x: [%s], <<: *m%d}" % (i, i, refs, i - 1))
    return b"\n".join(lines) + b"\n"


def _many_aliases() -> bytes:
    """Each alias is cheap, but 60,000 of a 3-node value expand past the node budget."""
    return BASE + b"x: &x [a, b]\ny: [" + b"*x," * 60_000 + b"]\n"


def _many_keys() -> bytes:
    body = b"".join(b"k%d: 1\n" % i for i in range(40_000))
    return BASE + body[: MAX_FLOW_BYTES - len(BASE) - 16]


def _many_flow_keys() -> bytes:
    body = b", ".join(b"k%d: 1" % i for i in range(40_000))
    return BASE + b"x: {" + body[: MAX_FLOW_BYTES - len(BASE) - 16] + b"}\n"


def _many_steps() -> bytes:
    return BASE + b"".join(b"  - say: hi\n" for _ in range(20_000))[: MAX_FLOW_BYTES - len(BASE)]


def _values(total_bytes: int) -> bytes:
    """As many one-character values as fit: the most ruamel work the budgets let through."""
    room = (total_bytes - len(BASE) - 8) // 2
    return BASE + b"x: [" + b"1," * room + b"]\n"


def _long_line() -> bytes:
    return _replace(b'greeting: "Hi!', b'greeting: "Hi! ' + b"a" * (MAX_FLOW_BYTES - 2_000))()


def _deep_block(levels: int) -> bytes:
    """Block sequences nested on one line ('- - - x'), the indentation form of deep nesting."""
    return BASE + b"x:\n  " + b"- " * levels + b"x\n"


def _utf16() -> bytes:
    return b"\xff\xfe" + BASE.decode().encode("utf-16-le")


def _utf32() -> bytes:
    return b"\x00\x00\xfe\xff" + BASE.decode().encode("utf-32-be")


CASES: tuple[Case, ...] = (
    # Alias expansion ("billion laughs"): 9 levels of 9, as a sequence and as a mapping.
    Case("billion_laughs", _file("billion_laughs.yaml"), "values (an alias counts"),
    Case("billion_laughs_map", _file("billion_laughs_map.yaml"), "values (an alias counts"),
    Case("laughs_merge_keys", _laughs_merge, "values (an alias counts"),
    Case("many_aliases", _many_aliases, "values (an alias counts"),
    Case("recursive_alias", _extra(b"x: &loop [a, *loop]\n"), "inside the value it refers to"),
    Case("recursive_merge", _extra(b"x: &loop {a: 1, <<: *loop}\n"), "inside the value"),
    # Nesting.
    Case("deep_seq_1000", _extra(b"x: " + b"[" * 1000 + b"]" * 1000 + b"\n"), "levels deep"),
    Case("deep_seq_5000", _extra(b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n"), "levels deep"),
    Case("deep_map_1000", _extra(b"x: " + b"{a: " * 1000 + b"1" + b"}" * 1000 + b"\n"), "deep"),
    Case("deep_map_5000", _extra(b"x: " + b"{a: " * 5000 + b"1" + b"}" * 5000 + b"\n"), "deep"),
    Case("open_brackets", _extra(b"x: " + b"[" * 200_000 + b"\n"), "levels deep"),
    Case("deep_block_1000", lambda: _deep_block(1000), "levels deep"),
    # Numbers.
    Case("version_2_63", _replace(b"version: 2", b"version: %d" % 2**63), "fit in 64 bits"),
    Case("version_30_digits", _replace(b"version: 2", b"version: " + b"9" * 30), "64 bits"),
    Case("version_5000_digits", _replace(b"version: 2", b"version: " + b"9" * 5000), "64 bits"),
    Case("version_2_31", _replace(b"version: 2", b"version: %d" % 2**31), "version"),
    Case("version_quoted_5000", _replace(b"version: 2", b'version: "' + b"9" * 5000 + b'"'), "ver"),
    Case("version_zero", _replace(b"version: 2", b"version: 0"), "version"),
    Case(
        "hex_huge", _replace(b"retention_days: 365", b"retention_days: 0x" + b"f" * 40), "64 bits"
    ),
    Case(
        "negative_huge",
        _replace(b"retention_days: 365", b"retention_days: -" + b"9" * 40),
        "64 bits",
    ),
    Case("underscored_5000", _extra(b"x: 1" + b"_0" * 5000 + b"\n"), "64 bits"),
    # Encodings.
    Case("greeting_ff_fe", _file("greeting_ff_fe.yaml"), "not valid UTF-8 at byte"),
    Case("truncated_utf8", lambda: BASE + b"x: caf\xc3", "not valid UTF-8 at byte"),
    Case("overlong_utf8", _replace(b"Hi!", b"Hi\xc0\xaf"), "not valid UTF-8 at byte"),
    Case("surrogate_utf8", _replace(b"Hi!", b"Hi\xed\xa0\x80"), "not valid UTF-8 at byte"),
    Case("utf16_bom", _utf16, "not valid UTF-8 at byte 0"),
    Case("utf32_bom", _utf32, "not valid UTF-8 at byte"),
    Case("two_utf8_boms", lambda: b"\xef\xbb\xbf\xef\xbb\xbf" + BASE, "unknown key"),
    Case("nul_byte", _replace(b"Hi!", b"Hi\x00"), "not valid YAML"),
    # Layout and size.
    Case("tab_indent", _replace(b"  needs:\n", b"\tneeds:\n"), "not valid YAML"),
    Case("long_line", _long_line, "at most 1000 characters"),
    Case("over_size", _extra(b"# " + b"x" * MAX_FLOW_BYTES + b"\n"), "over the limit"),
    Case("many_keys", _many_keys, "values (an alias counts"),
    Case("many_flow_keys", _many_flow_keys, "values (an alias counts"),
    Case("many_steps", _many_steps, "values (an alias counts"),
    Case("many_documents", _extra(b"---\n" * 50_000), "values (an alias counts"),
    Case("values_16k", lambda: _values(16_384), "unknown key"),  # the gateway's body limit
    Case("values_at_budget", lambda: _values(len(BASE) + 2 * 29_800), "unknown key"),
)

BY_NAME = {case.name: case for case in CASES}
