"""A WSGI script whose import fails (tests/test_routing.py: 500, traceback in the log)."""

raise RuntimeError("broken.wsgi fails to import on purpose")
