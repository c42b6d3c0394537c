"""The pure core imports no storage, CLI, graph or PDF library (DESIGN §1)."""

from __future__ import annotations

import subprocess
import sys

PURE_MODULES = [
    "ledger.encoding",
    "ledger.events",
    "ledger.payloads",
    "ledger.verify",
    "ledger.errors",
    "ledger.governance",
    "ledger.redaction_rules",
    "ledger.dataset_rules",
    "ledger.keys",
    "ledger.signatures",
    "ledger.merkle",
    "ledger.checkpoint",
    "ledger.proofs",
    "ledger.bundle",
]
FORBIDDEN = ["sqlalchemy", "click", "networkx", "reportlab", "psycopg", "sqlite3"]


def test_pure_core_imports_no_io_libraries() -> None:
    code = (
        "import sys\n"
        f"for name in {PURE_MODULES!r}: __import__(name)\n"
        f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_service_layer_does_load_the_store() -> None:
    """The check above can fail: importing the service brings in SQLAlchemy."""
    code = "import sys, ledger\nledger.open\nprint('sqlalchemy' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
