"""Benchmarks: how fast chromasweep trains, feeds and sweeps, beside the reference and the limit.

``python -m benchmarks [step|pipeline|search|orchestration|gpu ...] [--quick]``; see __main__.py.
"""
