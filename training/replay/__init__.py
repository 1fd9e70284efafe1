"""Replay: the simulator plays the world against a running server (docs/learning-loop.md)."""
