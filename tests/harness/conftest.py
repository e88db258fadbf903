"""pytest fixtures of tests/harness (defined in slb_testlib)."""

from slb_testlib import http_backends, start_double

__all__ = ["http_backends", "start_double"]
