"""Benchmarks: scripts run from the checkout (python bench/NAME.py), never by the tests."""
