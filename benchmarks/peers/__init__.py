"""Peer implementations of metrosim rules in other frameworks, for benchmarks and checks."""
