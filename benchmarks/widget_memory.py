"""Where the gateway's memory per open web-widget conversation goes (issue 19, "Memory").

`candor bench --hold N` (bot/bench/hold.py) gives one figure, the gateway's RSS growth per open
conversation. This script breaks that figure down. It starts the stack the way the tests and
`candor up` do (`bot.engine.launcher.launch`: the engine in its own process, the gateway in a
thread of this one), with `tracemalloc` on, so every allocation the gateway makes is traced.
A child process (so its own sockets are not counted) then opens N widget WebSockets the way
the hold bench does (`bot.bench.hold._open_one`: hello, "hi", the survey's first question) and
keeps them open. The growth between a snapshot taken before they open and one taken while
they are all open, divided by N, is reported by allocation site (file:line), by package
(uvicorn, websockets, asyncio, starlette, bot/…), and by the nearest frame in our own code
(which line of ours made the library allocate). A third snapshot after the sockets close shows
what the conversations leave behind (caches keyed per conversation).

    .venv/bin/python benchmarks/widget_memory.py --conversations 2000 --out /tmp/wm.json
    .venv/bin/python benchmarks/widget_memory.py --no-trace      # RSS alone, no tracing cost
    .venv/bin/python benchmarks/widget_memory.py -n 300 --frames 40 --dump /tmp/snaps  # keep
        # the three snapshots for a closer look (tracemalloc.Snapshot.load, compare_to)

Read RSS from a `--no-trace` run. With tracing on, RSS also holds tracemalloc's own tables and
the allocator's waste around them; the report subtracts what tracemalloc says it uses
(`tracemalloc.get_tracemalloc_memory()`), but that is far from all of it (at 2,000 sockets the
traced run showed 173 KB per conversation where the untraced one showed 46 KB). The traced
bytes per conversation, on the other hand, are exact and repeat from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import sysconfig
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WARM_UP = 50  # conversations opened and closed first: one-time allocations are not per socket
SETTLE_S = 5.0  # as the hold bench: let queues drain before reading memory
_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


def rss_kb() -> int:
    """This process's resident memory (gateway thread, harness and all), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def package_of(filename: str) -> str:
    """A readable owner for a source file: the site-packages distribution, the stdlib module,
    or our own top-level package (bot/ split one level further: bot/channels, bot/gateway)."""
    if filename.startswith("<"):
        return filename  # <frozen importlib._bootstrap>, <unknown>
    path = Path(filename).resolve()
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if path.is_relative_to(ROOT):
        inner = path.relative_to(ROOT).parts
        if inner[0] == "bot" and len(inner) > 2:
            return f"{inner[0]}/{inner[1]}"
        return inner[0].removesuffix(".py")
    if path.is_relative_to(_STDLIB):
        inner = path.relative_to(_STDLIB).parts
        return "stdlib " + inner[0].removesuffix(".py")
    return str(path)


def short(filename: str) -> str:
    """A file name short enough for a table: relative to site-packages, the stdlib or ROOT."""
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return "/".join(parts[parts.index("site-packages") + 1 :])
    for base in (ROOT, _STDLIB):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return filename


def _ours(filename: str) -> bool:
    """A frame of the project's own code (not the harness, not a virtualenv under ROOT)."""
    path = Path(filename)
    return (
        path.is_relative_to(ROOT)
        and "site-packages" not in path.parts
        and not path.is_relative_to(ROOT / "benchmarks")
    )


def breakdown(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, per: int, top: int
) -> dict[str, Any]:
    """The growth from `before` to `after` in bytes per conversation (`per` of them): by
    allocation site, by its package, and by the nearest frame of our own code."""
    diff = after.compare_to(before, "traceback")
    tables: dict[str, dict[str, list[int]]] = {
        "by_package": defaultdict(lambda: [0, 0]),
        "by_site": defaultdict(lambda: [0, 0]),
        "by_our_caller": defaultdict(lambda: [0, 0]),
    }
    for stat in diff:
        if not stat.size_diff:
            continue
        frames = list(stat.traceback)  # oldest first: frames[-1] made the allocation
        site = frames[-1]
        mine = next((f for f in reversed(frames) if _ours(f.filename)), None)
        keys = {
            "by_package": package_of(site.filename),
            "by_site": f"{short(site.filename)}:{site.lineno}",
            "by_our_caller": f"{short(mine.filename)}:{mine.lineno}" if mine else "(none)",
        }
        for name, key in keys.items():
            tables[name][key][0] += stat.size_diff
            tables[name][key][1] += stat.count_diff

    def table(sizes: dict[str, list[int]], n: int | None = None) -> list[dict[str, Any]]:
        rows = sorted(sizes.items(), key=lambda kv: -kv[1][0])
        return [
            {
                "where": key,
                "bytes_per_conversation": round(size / per),
                "blocks_per_conversation": round(count / per, 2),
            }
            for key, (size, count) in (rows if n is None else rows[:n])
            if abs(size / per) >= 1
        ]

    total = sum(stat.size_diff for stat in diff)
    return {
        "traced_bytes_per_conversation": round(total / per),
        "by_package": table(tables["by_package"]),
        "by_site": table(tables["by_site"], top),
        "by_our_caller": table(tables["by_our_caller"], top),
    }


async def _client(url: str, n: int, concurrency: int) -> None:
    """The child process: open `n` conversations, say so, hold them until told to close."""
    from bot.bench.hold import _open_one, raise_fd_limit

    raise_fd_limit(n)
    gate = asyncio.Semaphore(concurrency)
    sockets: list[Any] = []
    failed = 0

    async def one() -> None:
        nonlocal failed
        async with gate:
            try:
                socket = await _open_one(url)
            except Exception:  # counted, as the hold bench counts them
                socket = None
            if socket is None:
                failed += 1
            else:
                sockets.append(socket)

    await asyncio.gather(*(one() for _ in range(n)))
    print(json.dumps({"open": len(sockets), "failed": failed}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "close"
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)


def _hold(url: str, n: int, concurrency: int) -> tuple[subprocess.Popen[str], dict[str, int]]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--client", url, str(n), str(concurrency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        child.wait(30)
        raise RuntimeError(f"the client process exited ({child.returncode}) before opening")
    return child, json.loads(line)


def _release(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.write("close\n")
    child.stdin.flush()
    child.wait(300)


def _reading(trace: bool) -> tuple[int, int, tracemalloc.Snapshot | None]:
    gc.collect()
    snapshot = tracemalloc.take_snapshot() if trace else None
    overhead = tracemalloc.get_tracemalloc_memory() if trace else 0
    return rss_kb(), overhead, snapshot


def measure(
    n: int, concurrency: int, trace: bool, frames: int, top: int, dump: Path | None = None
) -> dict[str, Any]:
    from bot.bench.hold import raise_fd_limit
    from bot.bench.systems import BRAND, CUSTOMER_LIMIT, FLOW
    from bot.engine.launcher import launch
    from bot.settings import Settings
    from tests.stack import free_port

    raise_fd_limit(n)
    if trace:
        tracemalloc.start(frames)
    with tempfile.TemporaryDirectory(prefix="candor-widget-memory-") as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            run_dir=Path(tmp) / "run",
            gateway_port=free_port(),
            rasa_url=f"http://127.0.0.1:{free_port()}",
            limit_chat_customer=CUSTOMER_LIMIT,  # as `candor bench`
            purge_interval_s=0,  # no retention sweep in the middle of a reading
        )
        running = launch(settings, extra_flows=(FLOW,))
        url = settings.gateway_url.replace("http://", "ws://") + f"/ws/chat/{BRAND}"
        try:
            warm, _ = _hold(url, WARM_UP, concurrency)
            _release(warm)
            time.sleep(SETTLE_S)
            rss0, over0, snap0 = _reading(trace)
            started = time.perf_counter()
            child, opened = _hold(url, n, concurrency)
            open_s = time.perf_counter() - started
            time.sleep(SETTLE_S)
            rss1, over1, snap1 = _reading(trace)
            _release(child)
            time.sleep(SETTLE_S)
            rss2, over2, snap2 = _reading(trace)
        finally:
            running.stop()
    held = max(opened["open"], 1)
    result: dict[str, Any] = {
        "conversations": n,
        **opened,
        "open_seconds": round(open_s, 1),
        "tracemalloc_frames": frames if trace else None,
        "rss_kb_idle": rss0,
        "rss_kb_growth": rss1 - rss0,
        "tracemalloc_overhead_kb_growth": (over1 - over0) // 1024,
        "rss_kb_per_conversation": round((rss1 - rss0 - (over1 - over0) / 1024) / held, 1),
        "rss_kb_per_conversation_after_close": round(
            (rss2 - rss0 - (over2 - over0) / 1024) / held, 1
        ),
    }
    if snap0 is not None and snap1 is not None and snap2 is not None:
        if dump is not None:  # for a closer look: tracemalloc.Snapshot.load(path)
            dump.mkdir(parents=True, exist_ok=True)
            for name, snap in (("idle", snap0), ("open", snap1), ("closed", snap2)):
                snap.dump(str(dump / f"{name}.snapshot"))
        result["while_open"] = breakdown(snap0, snap1, held, top)
        result["after_close"] = breakdown(snap0, snap2, held, top)
    return result


def _print(result: dict[str, Any]) -> None:
    print(
        f"{result['open']} conversations open ({result['failed']} failed) in "
        f"{result['open_seconds']} s; gateway RSS growth {result['rss_kb_growth'] / 1024:.1f} MB"
        f" (tracemalloc's own: {result['tracemalloc_overhead_kb_growth'] / 1024:.1f} MB)"
    )
    print(
        f"RSS per open conversation: {result['rss_kb_per_conversation']} KB; "
        f"left after they close: {result['rss_kb_per_conversation_after_close']} KB"
    )
    for phase in ("while_open", "after_close"):
        part = result.get(phase)
        if not isinstance(part, dict):
            continue
        print(
            f"\n== {phase.replace('_', ' ')}: traced "
            f"{part['traced_bytes_per_conversation'] / 1024:.1f} KB per conversation"
        )
        for title, key in (
            ("package", "by_package"),
            ("allocation site", "by_site"),
            ("our caller", "by_our_caller"),
        ):
            print(f"\n{'bytes/conv':>10} {'blocks':>7}  by {title}")
            for row in part[key]:
                print(
                    f"{row['bytes_per_conversation']:>10} "
                    f"{row['blocks_per_conversation']:>7}  {row['where']}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", "-n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--frames", type=int, default=30, help="traceback depth traced")
    parser.add_argument("--top", type=int, default=30, help="rows of the site tables")
    parser.add_argument("--no-trace", action="store_true", help="RSS only (no tracemalloc)")
    parser.add_argument("--out", type=Path, help="write the JSON here")
    parser.add_argument("--dump", type=Path, help="save the three snapshots in this directory")
    parser.add_argument("--client", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        url, n, concurrency = args.client
        asyncio.run(_client(url, int(n), int(concurrency)))
        return
    result = measure(
        args.conversations, args.concurrency, not args.no_trace, args.frames, args.top, args.dump
    )
    _print(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
