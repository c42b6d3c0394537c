"""Generate ``schemas/``: the JSON Schema of every payload model plus an index.

Run ``python -m ledger.schemagen [DIR]`` (default: the ``schemas`` package next
to ``ledger``). ``render()`` is pure so the drift test can compare bytes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ledger.payloads import PAYLOAD_MODELS

__all__ = ["render", "write"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """File name -> file text for every schema file and the index."""
    files: dict[str, str] = {}
    index: dict[str, Any] = {}
    for event_type, model in sorted(PAYLOAD_MODELS.items()):
        name = f"{event_type}.v{model.SCHEMA_VERSION}.json"
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = _DIALECT
        schema["$id"] = f"mlledger:payload:{event_type}:v{model.SCHEMA_VERSION}"
        schema["title"] = event_type
        files[name] = _dump(schema)
        index[event_type] = {"schema_version": model.SCHEMA_VERSION, "file": name}
    files["index.json"] = _dump({"format_version": 1, "event_types": index})
    return files


def write(directory: Path) -> list[Path]:
    """Write the rendered files into ``directory``; returns what was written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    default = Path(__file__).resolve().parent.parent / "schemas"
    target = Path(argv[0]) if argv else default
    for path in write(target):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
