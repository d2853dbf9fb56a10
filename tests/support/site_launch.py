"""Run router processes for a pickled Site: `python -m tests.support.site_launch SITE ERRORLOG`.

The test builds the Site dataclasses (fastwsgi/site.py) itself, with each
DaemonGroup.config.socket_path pointing at a daemon group it started with
`fastwsgi serve APP --uwsgi-socket PATH`; this only starts the routers.
"""

from __future__ import annotations

import pickle
import sys

from fastwsgi import log as logmod
from fastwsgi.config import RouterConfig
from fastwsgi.supervisor import Supervisor


def main(argv: list[str]) -> int:
    """Load the pickled (Site, threads, processes) and run its routers until stopped."""
    with open(argv[0], "rb") as f:
        site, threads, processes = pickle.load(f)
    logmod.setup(argv[1], "info")
    http = site.http
    http.binds = list(site.listens)
    router = RouterConfig(None, http, threads=threads, processes=processes, site=site)
    return Supervisor([], routers=[router]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
