"""Benchmarks and peers (scripts that print figures; never timed tests)."""
