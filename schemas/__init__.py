"""Generated JSON Schema of every event payload (data only).

Regenerate with ``python -m ledger.schemagen``; ``tests/unit/test_schemas.py``
fails when these files drift from the pydantic models.
"""
