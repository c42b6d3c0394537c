"""The main job on the embedded default: record a small training run's
events in the ledger (./mlledger/ledger.db, or MLLEDGER_URI), then verify it.

    python examples/quickstart.py && mlledger verify && mlledger export -o events.jsonl
"""

from __future__ import annotations

import time
import uuid

import ledger
from ledger import PendingEvent


def main() -> None:
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    now_ms = int(time.time() * 1000)
    with ledger.open() as lg:
        lg.append("experiment.created", {"experiment_id": "credit-scoring", "name": "credit-scoring"})
        lg.append("run.started", {"run_id": run_id, "experiment_id": "credit-scoring", "run_name": "ridge"})
        lg.append("run.params_logged", {"run_id": run_id, "params": {"alpha": "0.1"}})
        metrics = [
            PendingEvent(
                "run.metrics_logged",
                {
                    "run_id": run_id,
                    "metrics": [{"key": "rmse", "value": 3.0 / (step + 1), "step": step, "timestamp": now_ms + step}],
                },
                actor=ledger.default_actor(),
            )
            for step in range(100)
        ]
        lg.append_many(metrics)
        lg.append("run.finished", {"run_id": run_id, "status": "FINISHED"})
        report = lg.verify()
        print(f"ledger {lg.ledger_id} at {lg.display_uri}: {report.events} events, intact={report.ok}")
        print(f"head {report.head}")


if __name__ == "__main__":
    main()
