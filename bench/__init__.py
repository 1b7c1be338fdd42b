"""Benchmarks run side by side with their peers: `python -m bench` (see docs/benchmarks.md)."""
