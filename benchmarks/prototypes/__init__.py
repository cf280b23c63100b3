"""Prototypes measured by the benchmarks (not used by the model)."""
