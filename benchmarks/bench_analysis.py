"""Analysis and grading benchmark: seconds and peak memory of ``grade_run`` on big runs.

Run: ``.venv/bin/python benchmarks/bench_analysis.py`` (1M and 10M request records, about
3 minutes; ``--quick`` for 100k; ``--sizes 1e6`` for one size).

For each size it generates a synthetic run directory (``harness.testing.make_run``: a split
run at 10% AI over one hour, one AI outage, ``requests.csv`` and ``decisions.csv`` with one row
per request each) in a temporary folder, deleted afterwards, then measures in a fresh child
process each:

- ``grade_run``: read both record files, analyse, grade (what ``dualsys report`` does before
  rendering); seconds and the child's peak resident memory (``ru_maxrss``);
- baseline: a bare ``pd.read_csv(engine="pyarrow")`` of the same two files, so the figure is
  also a ratio that carries over to another machine.

Targets on the reference machine: 1M records under 10 s, 10M under 60 s within 4 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.testing import SyntheticFault, SyntheticRun, make_run  # noqa: E402

_GRADE = """
import json, resource, sys, time
from pathlib import Path
from harness.grading import grade_run
from harness.rundir import RunDir
t = time.perf_counter()
graded = grade_run(RunDir(Path(sys.argv[1])))
print(json.dumps({"seconds": time.perf_counter() - t, "verdict": graded.verdict.value,
                  "checks": len(graded.checks),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_BASELINE = """
import json, resource, sys, time
from pathlib import Path
import pandas as pd
t = time.perf_counter()
rows = sum(len(pd.read_csv(Path(sys.argv[1]) / f, engine="pyarrow"))
           for f in ("requests.csv", "decisions.csv"))
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _child(code: str, run_dir: Path) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter (imports warm, memory measured from zero)."""
    out = subprocess.run(
        [sys.executable, "-c", code, str(run_dir)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench(n: int, workdir: Path) -> dict[str, object]:
    """Generate one run of ``n`` requests, measure grading and the baseline, delete it."""
    spec = SyntheticRun(
        name=f"bench_{n}",
        pattern="split",
        ai_share=0.1,
        duration=3600.0,
        n_records=n,
        seed=1,
        faults=[SyntheticFault(at=1200.0, for_=120.0)],
    )
    path = workdir / f"run_{n}"
    t = time.perf_counter()
    run = make_run(path, spec)
    generated = time.perf_counter() - t
    size_mb = sum(p.stat().st_size for p in (run.requests, run.decisions)) / 1e6
    try:
        baseline = _child(_BASELINE, path)
        graded = _child(_GRADE, path)
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return {
        "records": n,
        "files_mb": size_mb,
        "generate_s": generated,
        "grade_s": graded["seconds"],
        "grade_peak_mib": graded["peak_mib"],
        "verdict": graded["verdict"],
        "baseline_s": baseline["seconds"],
        "baseline_peak_mib": baseline["peak_mib"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="1e6,1e7", help="request counts, comma-separated (default 1e6,1e7)"
    )
    parser.add_argument("--quick", action="store_true", help="one small size (1e5)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args(argv)
    sizes = [100_000] if args.quick else [int(float(s)) for s in args.sizes.split(",")]
    python = sys.version.split()[0]
    print(f"analysis + grading benchmark on {os.cpu_count()} CPU(s), python {python}")
    print(
        f"{'records':>11} {'files':>9} {'generate':>9} {'grade':>8} {'peak':>9} "
        f"{'read_csv':>9} {'peak':>9} {'ratio':>6}  verdict"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="dualsys-bench-") as tmp:
        for n in sizes:
            r = bench(n, Path(tmp))
            results.append(r)
            ratio = float(r["grade_s"]) / max(float(r["baseline_s"]), 1e-9)  # type: ignore[arg-type]
            print(
                f"{n:>11,} {r['files_mb']:>7.0f}MB {r['generate_s']:>8.1f}s "
                f"{r['grade_s']:>7.1f}s {r['grade_peak_mib']:>6.0f}MiB "
                f"{r['baseline_s']:>8.1f}s {r['baseline_peak_mib']:>6.0f}MiB {ratio:>5.1f}x  "
                f"{r['verdict']}",
                flush=True,
            )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
