"""The PNG: throughput (bars) and p99 latency (lines) against the configuration.

One bar group per configuration, one bar per server; below, the p99 latency
of the same cells. matplotlib with its Agg backend (no display needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

INSTALL_HINT = "python3 -m pip install matplotlib"


def available() -> str | None:
    """None when matplotlib can be imported, else why not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return f"matplotlib is not installed ({INSTALL_HINT})"
    return None


def draw(cells: Sequence[dict[str, Any]], path: str, title: str) -> None:
    """Write the PNG of req/s and p99 per configuration and server to path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(c["label"] for c in cells))
    servers = list(dict.fromkeys(c["server"] for c in cells))
    by_key = {(c["label"], c["server"]): c for c in cells if c["status"] == "ok"}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.0, 1.1 * len(labels) + 3), 7),
                                      sharex=True)
    width = 0.8 / max(len(servers), 1)
    highest = max([c["requests_per_s"] for c in by_key.values()] or [1.0])
    xs = range(len(labels))
    for i, server in enumerate(servers):
        rps = [by_key[(lb, server)]["requests_per_s"] if (lb, server) in by_key else 0
               for lb in labels]
        top.bar([x + (i - (len(servers) - 1) / 2) * width for x in xs], rps, width,
                label=server)
        p99 = [by_key[(lb, server)]["latency_ms"]["p99"] if (lb, server) in by_key else None
               for lb in labels]
        bottom.plot(list(xs), [float("nan") if v is None else v for v in p99],
                    marker="o", label=server)
    top.set_ylabel("requests/s")
    top.set_title(title)
    # Head room above the bars for the legend, which would hide them otherwise.
    top.set_ylim(0, highest * 1.3)
    top.legend(fontsize="small", ncol=min(len(servers), 3), loc="upper left")
    top.grid(axis="y", alpha=0.3)
    bottom.set_ylabel("p99 latency (ms)")
    bottom.set_xlabel("configuration (processes x threads)")
    bottom.set_xticks(list(xs), labels, rotation=30 if len(labels) > 6 else 0)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
