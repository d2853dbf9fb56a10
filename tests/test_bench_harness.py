"""`fastwsgi bench` end to end on a tiny matrix: real servers, real wrk, real Apache.

Numbers are never asserted as speeds: only that the harness measured something
(requests counted, latencies ordered, CPU and memory read from /proc), wrote
the documented JSON and a PNG, listed missing peers with their install
command, printed ratios, and recommended a line `fastwsgi check` accepts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "examples" / "hello.wsgi"
RESULT_FIELDS = {
    "server", "role", "label", "processes", "threads", "receive_buffer_size",
    "send_buffer_size", "order", "status", "error", "requests", "duration_s",
    "requests_per_s", "latency_ms", "errors", "errors_total", "cpu_s", "cpu_s_per_request",
    "peak_rss_bytes", "server_processes", "load"}
TOP_FIELDS = {"tool", "fastwsgi_version", "started", "elapsed_s", "app", "request", "settings",
              "host", "servers", "skipped", "results", "ratios", "recommendation", "png"}
RECOMMENDATION_FIELDS = {"label", "processes", "threads", "receive_buffer_size",
                         "send_buffer_size", "requests_per_s", "p99_ms", "error_free",
                         "wsgi_daemon_process", "serve_flags", "serve_command"}
ERROR_KINDS = {"connect", "timeout", "non_2xx", "truncated", "other"}
# Both directions of a mod_wsgi daemon socket hold far less than this.
STALL_BYTES = 4 * 1024 * 1024


def env(path: str | None = None) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if path is not None:
        e["PATH"] = path
    return e


def bench(*args: str, cwd: Path, timeout: float, path: str | None = None,
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastwsgi", "bench", *args, "--no-progress"],
                          cwd=cwd, env=env(path), capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)


def missing_peer() -> tuple[str, str | None]:
    """A peer that is not installed here, and the PATH that hides it if one had to be hidden."""
    from fastwsgi.benchtool.peers import Target, peer_classes
    target = Target(app=str(HELLO), processes=1, threads=1)
    for name, cls in peer_classes().items():
        if cls(target).unavailable():
            return name, None
    # Every peer is installed: hide uwsgi (found on PATH only) from the harness.
    where = os.path.dirname(shutil.which("uwsgi") or "")
    dirs = [d for d in os.environ["PATH"].split(os.pathsep)
            if d and not os.path.exists(os.path.join(d, "uwsgi"))]
    assert where not in dirs
    return "uwsgi", os.pathsep.join(dirs)


def mod_wsgi_installed() -> bool:
    return os.access("/usr/sbin/apache2", os.X_OK) and os.path.exists(
        "/usr/lib/apache2/modules/mod_wsgi.so")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One harness run: 1 process x 1,2 threads, with mod_wsgi and a missing peer."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (make test-deps installs it)")
    tmp = tmp_path_factory.mktemp("bench")
    peer, path = missing_peer()
    compare = [peer] + (["mod_wsgi"] if mod_wsgi_installed() and peer != "mod_wsgi" else [])
    out = bench(str(HELLO), "--processes", "1", "--threads", "1,2", "--duration", "1",
                "--warmup", "0.3", "--connections", "8", "--compare", ",".join(compare),
                "--json", str(tmp / "run.json"), cwd=tmp, timeout=90, path=path)
    assert out.returncode == 0, out.stdout + out.stderr
    return {"doc": json.loads((tmp / "run.json").read_text()), "stdout": out.stdout,
            "missing": peer, "compare": compare, "tmp": tmp}


@pytest.mark.timeout(120)
def test_json_has_the_documented_fields(tiny_run: dict[str, Any]) -> None:
    doc = tiny_run["doc"]
    assert TOP_FIELDS <= doc.keys()
    mine = [c for c in doc["results"] if c["server"] == "fastwsgi"]
    assert [(c["processes"], c["threads"]) for c in mine] == [(1, 1), (1, 2)]
    for cell in mine:
        assert RESULT_FIELDS <= cell.keys(), cell
        assert cell["status"] == "ok" and cell["requests"] > 0
        assert set(cell["errors"]) == ERROR_KINDS
        lat = cell["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert cell["cpu_s_per_request"] > 0
        # The supervisor and its daemon, each at least a Python interpreter.
        assert cell["server_processes"] >= 2
        assert cell["peak_rss_bytes"] > 2 * 5 * 1024 * 1024
    assert RECOMMENDATION_FIELDS <= doc["recommendation"].keys()


@pytest.mark.timeout(120)
def test_every_json_field_is_documented_in_help(tiny_run: dict[str, Any]) -> None:
    helptext = subprocess.run([sys.executable, "-m", "fastwsgi", "bench", "--help"],
                              env=env(), capture_output=True, text=True, timeout=30).stdout
    doc = tiny_run["doc"]
    fields = set(doc) | set(doc["results"][0]) | set(doc["recommendation"]) \
        | set(doc["settings"]) | ERROR_KINDS
    fields -= {"load_generator_version"}  # told as part of load_generator
    assert [f for f in sorted(fields) if f not in helptext] == []


@pytest.mark.timeout(120)
def test_png_opens(tiny_run: dict[str, Any]) -> None:
    png = Path(tiny_run["doc"]["png"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image
    height, width = matplotlib.image.imread(str(png)).shape[:2]
    assert height >= 300 and width >= 300


@pytest.mark.timeout(120)
def test_missing_peer_is_skipped_with_its_install_command(tiny_run: dict[str, Any]) -> None:
    from fastwsgi.benchtool.peers import peer_classes
    name = tiny_run["missing"]
    hint = peer_classes()[name].install_hint
    assert tiny_run["doc"]["skipped"][name]["install"] == hint
    assert f"skipped {name}: " in tiny_run["stdout"]
    assert f"install it with: {hint}" in tiny_run["stdout"]
    assert all(c["server"] != name for c in tiny_run["doc"]["results"])


@pytest.mark.timeout(120)
def test_ratios_against_an_installed_peer(tiny_run: dict[str, Any]) -> None:
    if "mod_wsgi" not in tiny_run["compare"]:
        pytest.skip("apache2 + libapache2-mod-wsgi-py3 are not installed")
    doc = tiny_run["doc"]
    theirs = [c for c in doc["results"] if c["server"] == "mod_wsgi"]
    assert [c["status"] for c in theirs] == ["ok", "ok"], theirs
    # The same configurations, in alternating order (fastwsgi first, then last).
    assert [c["label"] for c in theirs] == ["1x1", "1x2"]
    first = [c["server"] for c in doc["results"] if c["label"] == "1x1"]
    second = [c["server"] for c in doc["results"] if c["label"] == "1x2"]
    assert first[0] == "fastwsgi" and second[-1] == "fastwsgi"
    by = {(r["label"], r["peer"]): r["ratio"] for r in doc["ratios"]}
    mine = {c["label"]: c["requests_per_s"] for c in doc["results"] if c["server"] == "fastwsgi"}
    rps = {c["label"]: c["requests_per_s"] for c in theirs}
    assert by[("1x1", "mod_wsgi")] == pytest.approx(mine["1x1"] / rps["1x1"])
    assert by[("all", "mod_wsgi")] > 0
    assert "fastwsgi / mod_wsgi" in tiny_run["stdout"]
    assert f"{by[('1x2', 'mod_wsgi')]:.2f}x" in tiny_run["stdout"]


@pytest.mark.timeout(120)
def test_recommended_line_is_accepted_by_check(tiny_run: dict[str, Any]) -> None:
    rec = tiny_run["doc"]["recommendation"]
    line = rec["wsgi_daemon_process"]
    assert line in tiny_run["stdout"] and rec["serve_command"] in tiny_run["stdout"]
    assert line.startswith(f"WSGIDaemonProcess hello processes={rec['processes']} "
                           f"threads={rec['threads']}")
    conf = tiny_run["tmp"] / "site.conf"
    conf.write_text(f"{line}\nWSGIProcessGroup hello\nWSGIScriptAlias / {HELLO}\n")
    out = subprocess.run([sys.executable, "-m", "fastwsgi", "check", "-f", str(conf)],
                         env=env(), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.timeout(90)
def test_buffers_scenario_completes_through_the_router(tmp_path: Path) -> None:
    compare = ["--compare", "mod_wsgi"] if mod_wsgi_installed() else []
    out = bench("--scenario", "buffers", "--buffers-bytes", str(STALL_BYTES),
                "--buffers-sizes", "0", "--buffers-requests", "1", "--buffers-timeout", "3",
                *compare, "--json", str(tmp_path / "buffers.json"), cwd=tmp_path, timeout=80)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads((tmp_path / "buffers.json").read_text())
    cases = {(c["server"], c["path"]): c for c in doc["cases"]}
    assert len(doc["cases"]) == (4 if compare else 2)
    for c in doc["cases"]:
        assert c["buffer_size"] == 0 and sum(c["outcomes"].values()) == 1, c
    mine = cases[("fastwsgi-router", "/read")]
    assert mine["completed"] and mine["outcomes"] == {"ok": 1} and mine["mib_per_s"] > 0
    # The relay is full duplex: an app that answers without reading its body
    # completes too, with the OS's default buffer sizes (0).
    unread = cases[("fastwsgi-router", "/noread")]
    assert unread["completed"] and unread["outcomes"] == {"ok": 1}, unread
    if compare:
        # mod_wsgi's Apache child writes the whole body before reading: a stall,
        # reported within the timeout rather than hanging the run.
        assert cases[("mod_wsgi", "/read")]["completed"]
        stalled = cases[("mod_wsgi", "/noread")]
        assert not stalled["completed"] and stalled["stalls"] == 1
        assert "stalls" in out.stdout and "NO" in out.stdout


COUNTING_APP = """\
import os

def application(environ, start_response):
    fd = os.open({path!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
"""


@pytest.mark.timeout(60)
def test_builtin_generator_counts_what_the_server_served(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    app = tmp_path / "counting.wsgi"
    app.write_text(COUNTING_APP.format(path=str(counter)))
    out = bench(str(app), "--processes", "1", "--threads", "2", "--duration", "1",
                "--warmup", "0", "--connections", "4", "--load-generator", "builtin",
                "--no-png", "--json", str(tmp_path / "run.json"), cwd=tmp_path, timeout=50)
    assert out.returncode == 0, out.stdout + out.stderr
    cell = json.loads((tmp_path / "run.json").read_text())["results"][0]
    assert cell["load"]["generator"] == "builtin" and cell["requests"] > 0
    # The readiness check is one request; requests still in flight when the
    # window closed may have reached the application without being counted.
    served = counter.stat().st_size - 1
    assert cell["requests"] <= served <= cell["requests"] + cell["load"]["in_flight"]


def cell(server: str, label: str, rps: float, errors: int = 0, role: str = "peer",
         status: str = "ok") -> dict[str, Any]:
    p, t = (int(x) for x in label.split("x"))
    return {"server": server, "role": role, "label": label, "processes": p, "threads": t,
            "receive_buffer_size": 0, "send_buffer_size": 4096 if t == 15 else 0,
            "status": status, "error": None if status == "ok" else "boom", "requests": 100,
            "requests_per_s": rps, "errors_total": errors, "latency_ms": {"p99": 1.0}}


def test_best_configuration_prefers_error_free_cells() -> None:
    from fastwsgi.benchtool import report
    cells = [cell("fastwsgi", "1x1", 900.0, role="fastwsgi"),
             cell("fastwsgi", "2x15", 1000.0, role="fastwsgi"),
             cell("fastwsgi", "4x15", 5000.0, errors=3, role="fastwsgi"),
             cell("gunicorn", "4x1", 9000.0)]
    rec = report.recommendation("app.wsgi", cells)
    assert rec is not None and rec["label"] == "2x15" and rec["error_free"]
    assert rec["wsgi_daemon_process"] == ("WSGIDaemonProcess app processes=2 threads=15 "
                                          "send-buffer-size=4096")
    assert rec["serve_flags"] == "--processes 2 --threads 15 --send-buffer-size 4096"
    # When every cell had errors, the fastest one is still named, marked so.
    only_bad = report.recommendation("app.wsgi", cells[2:])
    assert only_bad is not None and only_bad["label"] == "4x15" and not only_bad["error_free"]
    assert report.recommendation("app.wsgi", cells[3:]) is None


def test_ratios_per_configuration_and_geometric_mean() -> None:
    from fastwsgi.benchtool import report
    cells = [cell("fastwsgi", "1x1", 400.0, role="fastwsgi"), cell("uwsgi", "1x1", 100.0),
             cell("fastwsgi", "2x1", 100.0, role="fastwsgi"), cell("uwsgi", "2x1", 100.0),
             cell("fastwsgi", "4x1", 100.0, role="fastwsgi"),
             cell("uwsgi", "4x1", 0.0, status="error")]
    rows = {r["label"]: r for r in report.ratios(cells, ["uwsgi"])}
    assert rows["1x1"]["ratio"] == 4.0 and rows["2x1"]["ratio"] == 1.0
    assert rows["4x1"]["ratio"] is None and rows["4x1"]["note"] == "uwsgi: boom"
    assert rows["all"]["ratio"] == pytest.approx(2.0)
    assert "4.00x" in report.ratios_table(list(rows.values()), ["uwsgi"])


def test_matrix_order_processes_slowest() -> None:
    from fastwsgi.benchtool.matrix import configurations
    labels = [c.label for c in configurations([1, 2], [1, 15])]
    assert labels == ["1x1", "1x15", "2x1", "2x15"]
    assert configurations([1], [1], [0, 512])[1].label == "1x1 rcv=512 snd=0"


def test_measure_reads_this_process_group() -> None:
    from fastwsgi.benchtool.measure import Meter, group_pids
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE, start_new_session=True)
    try:
        assert group_pids(proc.pid) == [proc.pid]
        meter = Meter(proc.pid)
        meter.start()
        usage = meter.stop()
        assert usage.processes == 1 and usage.cpu_s >= 0
        assert usage.peak_rss_bytes > 1024 * 1024
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.timeout(60)
def test_command_line_mistakes_exit_2_with_one_line(tmp_path: Path) -> None:
    for args, words in [(["missing.wsgi"], "no such file"),
                        ([str(HELLO), "--threads", "a"], "comma-separated integers"),
                        ([str(HELLO), "--compare", "tornado"], "unknown peer tornado"),
                        ([str(HELLO), "--header", "nocolon"], "expected 'Name: value'"),
                        ([], "APP is required")]:
        out = bench(*args, cwd=tmp_path, timeout=30)
        assert out.returncode == 2, (args, out.stderr)
        assert words in out.stderr and "Traceback" not in out.stderr
