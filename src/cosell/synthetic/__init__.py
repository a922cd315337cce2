"""Synthetic data: deterministic extracts for all six feeds, with planted effects for the tests and the demo."""
