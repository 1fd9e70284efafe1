"""System tests: the whole service as a user runs it (end to end, chaos, fuzz, shutdown)."""
