"""Environ completion: decoded CGI variables -> a PEP 3333 environ."""

from __future__ import annotations

import io

from bench.bench_codec import BROWSER_ENV
from fastwsgi._cext import complete_uwsgi_environ
from fastwsgi.wsgi import base_environ

BASE = base_environ(process_group="bench", application_group="", multiprocess=True,
                    multithread=True, run_once=False)
INPUT = io.BytesIO(b"")


def test_dict_copy_baseline(benchmark):
    """The copy the next benchmark makes per call: subtract it from that one."""
    benchmark(BROWSER_ENV.copy)


def test_complete_environ_browser(benchmark):
    def complete() -> dict[str, object]:
        env = BROWSER_ENV.copy()
        complete_uwsgi_environ(env, BASE, INPUT)
        return env

    env = benchmark(complete)
    assert env["wsgi.url_scheme"] == "https"
