"""PNG plots of a `candor bench` run (matplotlib, no display needed).

matplotlib is the `bench` extra, not a dependency of the gateway: it is imported when a plot is
drawn, and `candor bench` calls `require_matplotlib` before it starts measuring, so a missing
install is said at once, not after the run.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

INSTALL_HINT = (
    "candor bench draws its plots with matplotlib, which is not installed: `make setup` "
    "installs it, or `pip install -e '.[bench]'`"
)

LABELS = {
    "candor": "(a) Candor end to end",
    "bare": "(b) bare Rasa engine",
    "stock": "(c) stock Rasa",
}


class PlotsUnavailable(RuntimeError):
    """matplotlib is missing; the message says how to install it."""


def require_matplotlib() -> ModuleType:
    """matplotlib.pyplot, drawing to files only (Agg), or `PlotsUnavailable`."""
    try:
        import matplotlib
    except ImportError:
        raise PlotsUnavailable(INSTALL_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _by_system(result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {name: data["levels"] for name, data in result["systems"].items()}


def latency_histogram(result: dict[str, Any], path: Path, concurrency: int) -> None:
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, levels in _by_system(result).items():
        level = next((lv for lv in levels if lv["concurrency"] == concurrency), None)
        if level and level["latencies_ms"]:
            ax.hist(
                level["latencies_ms"],
                bins=60,
                histtype="step",
                linewidth=1.6,
                label=f"{LABELS.get(name, name)} (n={len(level['latencies_ms'])})",
            )
    ax.set_xlabel("turn latency (ms)")
    ax.set_ylabel("turns")
    ax.set_title(f"Turn latency at concurrency {concurrency}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def against_concurrency(result: dict[str, Any], path: Path) -> None:
    plt = require_matplotlib()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, levels in _by_system(result).items():
        xs = [lv["concurrency"] for lv in levels]
        label = LABELS.get(name, name)
        left.plot(xs, [lv["turns_per_s"] for lv in levels], marker="o", label=label)
        right.plot(xs, [lv["p99_ms"] for lv in levels], marker="o", label=label)
    levels = sorted({lv["concurrency"] for ls in _by_system(result).values() for lv in ls})
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [str(level) for level in levels])
        ax.set_xlabel("concurrent conversations")
        ax.grid(True, alpha=0.3)
    left.set_ylabel("turns per second")
    left.set_title("Throughput")
    right.set_ylabel("p99 latency (ms)")
    right.set_yscale("log")
    right.set_title("p99 latency")
    right.axhline(50, color="grey", linestyle="--", linewidth=1)
    left.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
