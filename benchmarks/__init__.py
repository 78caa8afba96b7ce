"""Timing benchmarks, run as modules (`python -m benchmarks.<name>`); results go to results/."""
