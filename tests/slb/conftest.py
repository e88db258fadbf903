"""pytest fixtures of tests/slb (defined in tests/harness/slb_testlib.py)."""

from slb_testlib import http_backends, start_double

__all__ = ["http_backends", "start_double"]
