"""What the harness prints and writes: the table, the ratios, the best configuration, JSON.

The best configuration is the fastwsgi cell with the most requests/s among
those without any error (if every cell had errors, the fastest of all, marked
so). It is written two ways: a `WSGIDaemonProcess` line for an Apache-style
configuration (`fastwsgi check -f` accepts it) and `fastwsgi serve` flags.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastwsgi.appload import default_group_name

MIB = 1024 * 1024
#: The table's note column is cut here; the JSON keeps the whole error.
NOTE_WIDTH = 90


def fmt(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                 right: Sequence[int] = ()) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w)
               for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def errors_text(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in errors.items() if v) or "0"


def results_table(cells: Sequence[dict[str, Any]]) -> str:
    """One row per (configuration, server), in the order they ran."""
    rows = []
    for c in cells:
        if c["status"] != "ok":
            note = f"{c['status']}: {c['error']}"
            rows.append([c["label"], c["server"], *["-"] * 8,
                         note if len(note) <= NOTE_WIDTH else note[:NOTE_WIDTH - 3] + "..."])
            continue
        lat = c["latency_ms"]
        cpu = c["cpu_s_per_request"]
        rows.append([c["label"], c["server"], fmt(c["requests_per_s"], 0),
                     fmt(lat["p50"], 2), fmt(lat["p90"], 2), fmt(lat["p99"], 2),
                     fmt(lat["max"], 1), errors_text(c["errors"]),
                     fmt(None if cpu is None else cpu * 1e6, 0),
                     fmt(c["peak_rss_bytes"] / MIB, 1), ""])
    return format_table(["config", "server", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms",
                         "errors", "CPU us/req", "peak RSS MiB", "note"],
                        rows, right=(2, 3, 4, 5, 6, 8, 9))


def best_cell(cells: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The fastest error-free fastwsgi cell (else the fastest one, with errors)."""
    ok = [c for c in cells if c["role"] == "fastwsgi" and c["status"] == "ok"
          and c["requests"] > 0]
    clean = [c for c in ok if c["errors_total"] == 0]
    pool = clean or ok
    return max(pool, key=lambda c: c["requests_per_s"]) if pool else None


def daemon_process_line(app: str, cell: dict[str, Any]) -> str:
    """The best configuration as an Apache-style `WSGIDaemonProcess` line."""
    words = ["WSGIDaemonProcess", default_group_name(app),
             f"processes={cell['processes']}", f"threads={cell['threads']}"]
    if cell["receive_buffer_size"]:
        words.append(f"receive-buffer-size={cell['receive_buffer_size']}")
    if cell["send_buffer_size"]:
        words.append(f"send-buffer-size={cell['send_buffer_size']}")
    return " ".join(words)


def serve_flags(cell: dict[str, Any]) -> str:
    """The best configuration as `fastwsgi serve` flags."""
    words = [f"--processes {cell['processes']}", f"--threads {cell['threads']}"]
    if cell["receive_buffer_size"]:
        words.append(f"--receive-buffer-size {cell['receive_buffer_size']}")
    if cell["send_buffer_size"]:
        words.append(f"--send-buffer-size {cell['send_buffer_size']}")
    return " ".join(words)


def recommendation(app: str, cells: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    best = best_cell(cells)
    if best is None:
        return None
    return {"label": best["label"], "processes": best["processes"], "threads": best["threads"],
            "receive_buffer_size": best["receive_buffer_size"],
            "send_buffer_size": best["send_buffer_size"],
            "requests_per_s": best["requests_per_s"], "p99_ms": best["latency_ms"]["p99"],
            "error_free": best["errors_total"] == 0,
            "wsgi_daemon_process": daemon_process_line(app, best),
            "serve_flags": serve_flags(best),
            "serve_command": f"fastwsgi serve {app} {serve_flags(best)}"}


def ratios(cells: Sequence[dict[str, Any]], peers: Sequence[str]) -> list[dict[str, Any]]:
    """fastwsgi's req/s over each peer's, per configuration, then their geometric mean."""
    by_label: dict[str, dict[str, dict[str, Any]]] = {}
    for c in cells:
        by_label.setdefault(c["label"], {})[c["server"]] = c
    out = []
    for label, row in by_label.items():
        mine = row.get("fastwsgi")
        for peer in peers:
            theirs = row.get(peer)
            ratio = note = None
            if mine and theirs and mine["status"] == "ok" and theirs["status"] == "ok" \
                    and theirs["requests_per_s"] > 0:
                ratio = mine["requests_per_s"] / theirs["requests_per_s"]
            else:
                bad = next((c for c in (mine, theirs) if c and c["status"] != "ok"), None)
                note = f"{bad['server']}: {bad['error']}" if bad else "no data"
            out.append({"label": label, "peer": peer, "ratio": ratio, "note": note})
    for peer in peers:
        got = [r["ratio"] for r in out if r["peer"] == peer and r["ratio"] and r["label"] != "all"]
        mean = math.exp(sum(map(math.log, got)) / len(got)) if got else None
        out.append({"label": "all", "peer": peer, "ratio": mean,
                    "note": None if got else "no data"})
    return out


def ratios_table(rows: Sequence[dict[str, Any]], peers: Sequence[str]) -> str:
    labels = list(dict.fromkeys(r["label"] for r in rows))
    table = []
    for label in labels:
        line = [label if label != "all" else "all (geomean)"]
        for peer in peers:
            r = next(x for x in rows if x["label"] == label and x["peer"] == peer)
            line.append("n/a" if r["ratio"] is None else f"{r['ratio']:.2f}x")
        table.append(line)
    return format_table(["config", *(f"fastwsgi / {p}" for p in peers)], table,
                        right=tuple(range(1, len(peers) + 1)))
