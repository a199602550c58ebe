"""Benchmarks of keras_rnnreg (run as ``python -m benchmarks.<name>``)."""
