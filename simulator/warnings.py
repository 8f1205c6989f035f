"""Warnings the simulator emits (errors in the test suite)."""


class SimulatorWarning(UserWarning):
    """Something the user should know about a run, e.g. a thin sample."""
