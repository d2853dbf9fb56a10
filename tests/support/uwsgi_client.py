"""The uwsgi client the tests use: fastwsgi's own (fastwsgi/client.py)."""

from fastwsgi.client import Response, parse_response, request

__all__ = ["Response", "parse_response", "request"]
