"""Scripts the integration tests run as separate OS processes.

Each one is started as ``python <path to script> ...`` (never imported by the
tests), talks to the ledger only through the public ``ledger`` API, and arms
``signal.alarm`` so that a hung worker dies on its own.
"""
