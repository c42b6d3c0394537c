"""The main job on the embedded default: train a tiny model, record the run
in the ledger (./mlledger/ledger.db, or MLLEDGER_URI) through the tracking
API, then search it and verify the ledger.

    python examples/quickstart.py && mlledger runs list && mlledger verify
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from pathlib import Path

import ledger


def train(alpha: float, points: list[tuple[float, float]]) -> tuple[float, list[float]]:
    """Ridge regression through the origin by gradient descent: slope and loss curve."""
    slope, losses = 0.0, []
    for _ in range(50):
        grad = sum(2 * (slope * x - y) * x for x, y in points) / len(points) + 2 * alpha * slope
        slope -= 0.05 * grad
        losses.append(sum((slope * x - y) ** 2 for x, y in points) / len(points))
    return slope, losses


def main() -> None:
    rng = random.Random(7)
    points = [(x, 3 * x + rng.gauss(0, 0.5)) for x in (rng.uniform(0, 2) for _ in range(200))]
    data = json.dumps(points).encode()
    with ledger.open() as lg:
        for alpha in (0.0, 0.1, 1.0):
            with lg.start_run(experiment="credit-scoring", run_name=f"ridge-{alpha}", tags={"team": "risk"}) as run:
                run.log_params({"alpha": alpha, "epochs": 50})
                run.log_input(
                    name="loans",
                    version="2026-03",
                    digest="sha256:" + hashlib.sha256(data).hexdigest(),
                    source="examples/quickstart.py",
                    context="training",
                    num_rows=len(points),
                )
                slope, losses = train(alpha, points)
                for step, loss in enumerate(losses):
                    run.log_metric("mse", loss, step=step)
                with tempfile.TemporaryDirectory() as folder:
                    model = Path(folder) / "model.json"
                    model.write_text(json.dumps({"slope": slope}))
                    run.log_artifact(str(model), artifact_path="model")
        best = lg.search_runs(experiment="credit-scoring", filter="metrics.mse < 1", order_by=["metrics.mse ASC"])
        report = lg.verify()
        print(f"ledger {lg.ledger_id} at {lg.display_uri}: {report.events} events, intact={report.ok}")
        print(f"best run: {best[0].info.run_name} mse={best[0].metrics['mse']:.4f}" if best else "no run under 1")


if __name__ == "__main__":
    main()
