"""Load generator for the personalization gRPC API (``python -m loadgen``)."""
