"""Provenance reports: "everything about model version N" as a verifiable PDF.
Not built yet: see issue 7."""
