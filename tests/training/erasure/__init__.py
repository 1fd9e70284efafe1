"""Tests of training.erasure and the forget command."""
