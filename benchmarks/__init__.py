"""Benchmarks: how fast chromasweep trains, feeds and sweeps, beside the reference and the limit.

``python -m benchmarks [step|profile|pipeline|search|search_wide|orchestration|gpu ...] [--quick | --smoke]``;
see __main__.py. ``--smoke`` (CI: ``tests/test_benchmarks.py``) runs every one at a toy size and writes nothing.
"""
