"""Lineage graph (networkx) built from ledger events: data versions to runs,
artifacts, model versions and deployments. Not built yet: see issue 6."""
