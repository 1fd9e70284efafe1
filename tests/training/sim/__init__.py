"""Tests of training.sim."""
