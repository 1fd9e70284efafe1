"""Experiment analysis: per-arm statistics, sample-ratio mismatch, power and always-valid
(sequential) inference for ``python -m training experiment-report``."""
