"""The pure core imports no storage, CLI, graph or PDF library (DESIGN §1)."""

from __future__ import annotations

import subprocess
import sys

PURE_MODULES = ["ledger.encoding", "ledger.events", "ledger.payloads", "ledger.verify", "ledger.errors"]
FORBIDDEN = ["sqlalchemy", "click", "networkx", "reportlab", "psycopg", "sqlite3"]


def test_pure_core_imports_no_io_libraries() -> None:
    code = (
        "import sys\n"
        f"for name in {PURE_MODULES!r}: __import__(name)\n"
        f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    # Import the submodules without running ledger/__init__ (which wires in the store).
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util, sys, types\n"
            "spec = importlib.util.find_spec('ledger')\n"
            "pkg = types.ModuleType('ledger'); pkg.__path__ = list(spec.submodule_search_locations)\n"
            "sys.modules['ledger'] = pkg\n" + code,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
