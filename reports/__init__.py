"""Provenance reports: "everything about model version N".

``version_text`` gathers what the ledger holds about one model version and
writes it as text (``mlledger models show``). The verifiable PDF comes with
issue 7.
"""
