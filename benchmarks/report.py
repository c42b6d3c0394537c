"""Provenance report: time and memory to gather and render one version's PDF (issue 7).

Workloads, each timed in a fresh process (imports excluded and reported apart):

  demo       version 3 of the demo's credit-model (``mlledger demo`` on a new
             SQLite ledger): target ≤ 1 s;
  big/B      a version whose run logged 100,000 metric points (four metrics,
             25,000 steps each) and 1,000 params, B points per
             ``run.metrics_logged`` event, for each B of ``--batches``
             (default 1 and 4: one event per point, as ``run.log_metric`` in
             a training loop writes them, and one per step, as
             ``run.log_metrics`` of the four metrics writes them): target
             ≤ 2 s, peak memory stated.

Each run reports gather (``reports.provenance.gather``: select the cited
events, fold the run from them, prove them with one multiproof, zip the
bundle and re-check the cited events for the cover) and render
(``reports.pdf.render_pdf``) separately, the same with ``verify=False``, and
the offline check an auditor runs on the PDF (``verify_report_pdf``). The
baseline is ``lg.evidence(name, version)`` alone: the evidence bundle that
``mlledger evidence`` writes, which every report embeds.

    python benchmarks/report.py --repeat 3
    python benchmarks/report.py --batches 1 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

DEMO_TARGET_S = 1.0
BIG_TARGET_S = 2.0


def _build_big(uri: str, workdir: Path, batch: int) -> None:
    import ledger

    with ledger.open(uri) as lg:
        lg.claim_admin(actor="bench")
        folder = workdir / "model"
        folder.mkdir(parents=True)
        (folder / "model.bin").write_bytes(b"weights" * 1000)
        with lg.start_run("bench", "big", actor="bench", capture_environment=False) as run:
            for start in range(0, 1000, 100):
                run.log_params({f"p{i:04d}": str(i) for i in range(start, start + 100)})
            points = [
                {"key": f"m{k}", "value": float(step % 97) / 97.0, "step": step, "timestamp": 1_700_000_000_000 + step}
                for step in range(25_000)
                for k in range(4)
            ]
            for start in range(0, len(points), 2000):
                chunk = points[start : start + 2000]
                events = [chunk[i : i + batch] for i in range(0, len(chunk), batch)]
                lg.append_many(
                    [
                        ledger.PendingEvent("run.metrics_logged", {"run_id": run.run_id, "metrics": e}, "bench")
                        for e in events
                    ]
                )
            run.log_artifact(str(folder), "model")
        lg.register_model("big-model", run.run_id, "model", actor="bench")
        signing, _ = lg.setup_signing_key(str(workdir / "big.key"))  # its own: the demo's signs the demo's only
        lg.create_checkpoint(key=signing)  # the report rests on it; no key is needed while measuring


def _measure(uri: str, name: str, version: int) -> dict[str, Any]:
    """One repetition in this (fresh) process."""
    started = time.perf_counter()
    import ledger
    from reports.pdf import render_pdf
    from reports.provenance import gather
    from reports.verify import verify_report_pdf

    imports = time.perf_counter() - started
    figures: dict[str, Any] = {"imports_s": imports}
    with ledger.open(uri, create=False) as lg:
        t = time.perf_counter()
        bundle = lg.evidence(name, version)
        figures["evidence_s"] = time.perf_counter() - t
        figures["cited"] = len(bundle.seqs)
        for verify in (True, False):
            t = time.perf_counter()
            gathered = gather(lg, name, version, verify=verify)
            gathered_s = time.perf_counter() - t
            t = time.perf_counter()
            pdf = render_pdf(gathered.report, gathered.evidence_zip)
            rendered_s = time.perf_counter() - t
            suffix = "" if verify else "_unverified"
            figures[f"gather{suffix}_s"], figures[f"render{suffix}_s"] = gathered_s, rendered_s
            figures[f"total{suffix}_s"] = gathered_s + rendered_s
            figures["pdf_bytes"] = len(pdf)
        t = time.perf_counter()
        verify_report_pdf(pdf, lg.verifier_key())
        figures["report_verify_s"] = time.perf_counter() - t
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--batches", type=int, nargs="+", default=[1, 4], help="metric points per event in the big runs (default 1 4)"
    )
    parser.add_argument("--json", metavar="PATH", default=None)
    parser.add_argument("--one", nargs=3, metavar=("URI", "NAME", "VERSION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        uri, name, version = args.one
        print(json.dumps(_measure(uri, name, int(version))))
        return
    out = sys.stdout
    batches = ", ".join(f"big/{b}: {b} per event" for b in args.batches)
    workload = {"repetitions": args.repeat, "big runs": f"100,000 points ({batches}); 1,000 params"}
    machine = common.print_header("provenance report (issue 7)", workload, out)
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {**os.environ, "MLLEDGER_KEY_FILE": str(home / "ledger.key"), "MLLEDGER_ARTIFACT_ROOT": str(home / "a")}
        demo_uri = f"sqlite:///{home / 'demo.db'}"
        subprocess.run(["mlledger", "--uri", demo_uri, "demo"], check=True, env=env, capture_output=True, cwd=home)
        os.environ.update(env)
        workloads = [("demo", demo_uri, "credit-model", "3")]
        for batch in args.batches:
            common.progress(f"building the big run, {batch} point(s) per event")
            big_uri = f"sqlite:///{home / f'big-{batch}.db'}"
            _build_big(big_uri, home / f"work-{batch}", batch)
            workloads.append((f"big/{batch}", big_uri, "big-model", "1"))
        for label, uri, name, version in workloads:
            results[label] = []
            for i in range(args.repeat):
                common.progress(f"{label}: repetition {i + 1}/{args.repeat}")
                child = [sys.executable, __file__, "--one", uri, name, version]
                done = subprocess.run(child, check=False, capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    sys.exit(f"{label} failed:\n{done.stderr}")
                results[label].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for label, runs in results.items():
        target = DEMO_TARGET_S if label == "demo" else BIG_TARGET_S

        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return float(statistics.median(r[key] for r in runs))

        total = med("total_s")
        status = "PASS" if total <= target else "MISS"
        print(f"{label}: {runs[0]['cited']:,} cited events, PDF {runs[0]['pdf_bytes']:,} bytes", file=out)
        shown = ", ".join(f"{r['total_s']:.3f}" for r in runs)
        print(f"  gather + render (s)            {total:8.3f}  target ≤ {target:g}  {status}   runs: {shown}", file=out)
        print(f"    gather {med('gather_s'):.3f}, render {med('render_s'):.3f}", file=out)
        print(f"  without the cover's re-check   {med('total_unverified_s'):8.3f}", file=out)
        print(f"  baseline: lg.evidence alone     {med('evidence_s'):8.3f}", file=out)
        print(f"  report verify (offline)         {med('report_verify_s'):8.3f}", file=out)
        print(f"  imports (once per process)      {med('imports_s'):8.3f}", file=out)
        print(f"  peak resident set (MiB)         {med('peak_rss_mib'):8.1f}", file=out)
    common.write_json(args.json, {"workload": workload, "machine": machine, "results": results})


if __name__ == "__main__":
    main()
