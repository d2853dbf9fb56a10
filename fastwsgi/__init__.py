"""fastwsgi: mod_wsgi daemon mode as a standalone, Cython-accelerated server."""

__version__ = "0.1.0"
