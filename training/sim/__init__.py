"""The simulator: support data with known ground truth (see docs/data.md)."""
