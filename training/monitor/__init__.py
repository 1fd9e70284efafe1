"""Drift and outcome monitoring of the served model version (``python -m training monitor``)."""
