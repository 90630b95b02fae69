"""The one error a bench run stops on: its message says what to do."""


class BenchError(Exception):
    """A run cannot go on; the message is printed as is, without a traceback."""
