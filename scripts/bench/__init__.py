"""Benchmarks: each script runs ours and a named peer on the same data and prints the ratio."""
