"""One tiny run of the benchmark script, so it cannot rot.

Benchmarks are not tests: this checks only that ``bench/run.py --quick`` runs
every benchmark module and writes every figure the targets name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FIGURES = {
    "record_build_us",
    "attempt_apply_median_us",
    "attempt_apply_p99_us",
    "attempt_cost_growth_x",
    "service_memory_attempts_per_s",
    "service_sqlite_attempts_per_s",
    "service_sqlite_batch_attempts_per_s",
    "batch_100k_s",
    "batch_1m_s",
    "batch_1m_peak_mib",
    "pandas_1m_s",
    "dask_1m_speedup",
}


def test_quick_benchmark_run_writes_every_figure(tmp_path: Path) -> None:
    """``bench/run.py --quick`` exits 0 and writes each figure of issue 8's
    table, with every target evaluated (none absent)."""
    output = tmp_path / "bench-results.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(output.read_text(encoding="utf-8"))
    names = set(results["figures"])
    assert names >= FIGURES, sorted(FIGURES - names)
    assert "absent" not in done.stdout
