"""The lineage graph: data versions to runs, artifacts, model versions and
deployments, built from the ledger's events (``build``), asked upstream,
downstream and path questions as of any moment (``query``, ``service``: the
``lg.lineage`` entry point), printed as text trees (``tree``), exported as
PROV-JSON, OpenLineage, GraphML and DOT (``export``) and drawn (``diagram``)."""
