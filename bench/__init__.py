"""`make bench`: speed and memory of the lookup service, side by side with a baseline.

Run from the repo root as ``.venv/bin/python -m bench`` (``--help`` for the options). One
module per benchmark (``inprocess``, ``http_single``, ``http_batch``, ``memory``,
``coldstart``), the shared servers, load and statistics in ``common``, everything taken from
``ipgeo`` in ``ipgeo_api``, the table in ``report`` and the figure in ``plot``.
"""
