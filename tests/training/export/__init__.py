"""Tests of training.export."""
