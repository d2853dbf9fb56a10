"""Summaries, ratios against the targets, and the printed tables of bench/e2e.py.

Numbers per (scenario, server) are medians over the rounds: req/s, and the
p50 and p99 latencies each round's wrk measured. Errors are summed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastwsgi.benchtool.report import fmt as fmt_num
from fastwsgi.benchtool.report import format_table

ERROR_KINDS = ("connect", "read", "write", "timeout", "status")


@dataclass(frozen=True)
class Target:
    """`subject` must serve `scenario` at least `factor` times as fast as `peer`."""

    subject: str
    scenario: str
    peer: str
    factor: float


TARGETS = [
    Target("fastwsgi", "hello", "mod_wsgi", 10),
    Target("fastwsgi", "hello", "gunicorn", 10),
    Target("fastwsgi", "hello", "granian", 1),
    *(Target("fastwsgi", s, p, 3) for s in ("64k", "post-1m") for p in ("mod_wsgi", "gunicorn")),
    # Through the router (two hops, like mod_wsgi's Apache child -> daemon).
    *(Target("fastwsgi-router", s, "mod_wsgi", 3) for s in ("hello", "64k", "post-1m")),
]


def target_for(subject: str, scenario: str, peer: str) -> Target | None:
    for t in TARGETS:
        if (t.subject, t.scenario, t.peer) == (subject, scenario, peer):
            return t
    return None


def summarize(cells: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Median req/s, p50 and p99 (ms) of one server's measured rounds in one scenario."""
    done = [c["wrk"] for c in cells if c.get("wrk")]
    if not done:
        return None
    rps = [w["requests_per_s"] for w in done]
    lat = [w["latency_us"] for w in done if w["latency_us"]]
    errors = {k: sum(w["errors"][k] for w in done) for k in ERROR_KINDS}
    return {
        "rounds": len(done),
        "requests_per_s": statistics.median(rps),
        "requests_per_s_rounds": rps,
        "p50_ms": statistics.median(x["p50"] for x in lat) / 1000 if lat else None,
        "p99_ms": statistics.median(x["p99"] for x in lat) / 1000 if lat else None,
        "errors": errors,
        "errors_total": sum(errors.values()),
        "bytes_per_request": statistics.median(
            w["bytes"] / w["requests"] for w in done if w["requests"]) if any(
            w["requests"] for w in done) else None,
    }


def ratio_rows(summary: dict[str, dict[str, Any]], subjects: Sequence[str],
               peers: Sequence[str], scenarios: Sequence[str],
               unavailable: dict[str, str]) -> list[dict[str, Any]]:
    """One entry per (subject, scenario, peer): the ratio, its target and verdict."""
    rows = []
    for subject in subjects:
        for scenario in scenarios:
            for peer in peers:
                target = target_for(subject, scenario, peer)
                mine = summary.get(scenario, {}).get(subject)
                theirs = summary.get(scenario, {}).get(peer)
                ratio = None
                if mine and theirs and theirs["requests_per_s"] > 0:
                    ratio = mine["requests_per_s"] / theirs["requests_per_s"]
                why = unavailable.get(subject) or unavailable.get(peer)
                rows.append({"subject": subject, "scenario": scenario, "peer": peer,
                             "ratio": ratio, "target": target.factor if target else None,
                             "met": None if ratio is None or target is None
                             else ratio >= target.factor,
                             "note": None if ratio is not None else (why or "no data")})
    return rows


def results_table(summary: dict[str, dict[str, Any]], scenarios: Sequence[str],
                  servers: Sequence[str], notes: dict[tuple[str, str], str]) -> str:
    rows = []
    for scenario in scenarios:
        for server in servers:
            s = summary.get(scenario, {}).get(server)
            note = notes.get((scenario, server), "")
            if s is None:
                rows.append([scenario, server, "-", "-", "-", "-", note])
                continue
            errs = ", ".join(f"{k}={v}" for k, v in s["errors"].items() if v) or "0"
            rounds = " ".join(f"{x:,.0f}" for x in s["requests_per_s_rounds"])
            rows.append([scenario, server, fmt_num(s["requests_per_s"], 0),
                         fmt_num(s["p50_ms"], 2), fmt_num(s["p99_ms"], 2), errs,
                         note or f"rounds: {rounds}"])
    return format_table(["scenario", "server", "req/s", "p50 ms", "p99 ms", "errors", "note"],
                        rows, right=(2, 3, 4))


def ratios_table(rows: Sequence[dict[str, Any]], peers: Sequence[str]) -> str:
    by_key: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_key.setdefault((r["subject"], r["scenario"]), {})[r["peer"]] = r
    out = []
    for (subject, scenario), cells in by_key.items():
        line = [subject, scenario]
        for peer in peers:
            c = cells[peer]
            text = "n/a" if c["ratio"] is None else f"{c['ratio']:.2f}x"
            if c["target"] is not None:
                verdict = "" if c["met"] is None else (" ok" if c["met"] else " MISS")
                text += f" (>= {c['target']:g}x{verdict})"
            line.append(text)
        out.append(line)
    return format_table(["fastwsgi row", "scenario", *(f"vs {p}" for p in peers)], out)
