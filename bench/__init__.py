"""Benchmarks: micro-benchmarks (pytest-benchmark) and the end-to-end wrk table.

`make bench` runs both; see bench/README.md.
"""
