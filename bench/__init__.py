"""Benchmark of Decide against its baselines (``python -m bench``)."""
