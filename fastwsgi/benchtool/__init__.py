"""The benchmark harness behind `fastwsgi bench` (installed with the package).

Modules, lowest first: process (server subprocesses), measure (CPU and memory
from /proc), wrk and load (the load generators), peers and apache (how each
server is started), matrix (configurations and one measured cell), report,
plot, progress, buffers (the deadlock scenario), cli (the subcommand).
"""
