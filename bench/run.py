"""Run the benchmarks: ``python bench/run.py [--quick] [--only NAME] [--strict]``.

Every ``bench/bench_*.py`` module exposes::

    def run(results: dict[str, float], quick: bool) -> None: ...

which adds named figures to ``results``, and may declare

- ``UNITS: dict[str, str]``, the unit of each figure it adds (otherwise the
  unit is read from the name's suffix: ``_us``, ``_ms``, ``_s``, ``_x``);
- ``TARGETS: list[tuple[str, str, float | tuple[str, float], str]]``: targets
  as data, each ``(figure, comparison, bound, description)`` where
  ``comparison`` is one of ``<=``, ``<``, ``>=``, ``>`` and ``bound`` is a
  number or ``(other_figure, factor)``, meaning ``factor`` times that figure
  measured in the same run.

The table of figures and the targets (``pass``, ``miss``, or ``absent`` when a
figure was not measured) are printed, and everything is written to
``bench-results.json`` at the repository root. ``--quick`` is a smoke run for
CI (a few seconds; its figures are rough); ``--only NAME`` runs the module
``bench_NAME.py`` alone; ``--strict`` exits with 1 when a target is missed.

Every module runs with the objects left by the modules before it frozen out
of the garbage collector's scans (``gc.freeze``), so a figure measures its
own code and not the size of what earlier benchmarks left on the heap.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import operator
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUTPUT = ROOT / "bench-results.json"

Bound = float | tuple[str, float]
Target = tuple[str, str, Bound, str]

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}

SUFFIX_UNITS = (("_us", "us"), ("_ms", "ms"), ("_s", "s"), ("_x", "x"))


def discover(only: str | None = None) -> list[Path]:
    """The benchmark modules, by name; ``only`` keeps ``bench_<only>.py``."""
    found = sorted(HERE.glob("bench_*.py"))
    if only is not None:
        wanted = only if only.startswith("bench_") else f"bench_{only}"
        found = [p for p in found if p.stem == wanted]
        if not found:
            raise SystemExit(f"no benchmark module {wanted}.py in {HERE}")
    return found


def load(path: Path) -> ModuleType:
    """Import a benchmark module from its file."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise SystemExit(f"{path.name} has no run(results, quick) function")
    return module


def unit_of(name: str, units: dict[str, str]) -> str:
    if name in units:
        return units[name]
    for suffix, unit in SUFFIX_UNITS:
        if name.endswith(suffix):
            return unit
    return ""


def evaluate(target: Target, results: dict[str, float]) -> dict[str, Any]:
    """One target against the figures: its bound, the value and the status.

    >>> figures = {"a_us": 5.0, "b_us": 1.0}
    >>> checked = evaluate(("a_us", "<=", ("b_us", 10.0), "fast"), figures)
    >>> checked["bound"], checked["bound_text"], checked["status"]
    (10.0, '10 x b_us', 'pass')
    >>> evaluate(("a_us", "<", 1.0, "below 1"), {"a_us": 2})["status"]
    'miss'
    >>> evaluate(("a_us", "<", 1.0, "below 1"), {})["status"]
    'absent'
    """
    figure, comparison, bound_spec, description = target
    if comparison not in COMPARISONS:
        raise SystemExit(f"target on {figure}: unknown comparison {comparison!r}")
    if isinstance(bound_spec, tuple):
        other, factor = bound_spec
        bound_text = f"{factor:g} x {other}"
        bound = results[other] * factor if other in results else None
    else:
        bound_text = f"{bound_spec:g}"
        bound = float(bound_spec)
    value = results.get(figure)
    if value is None or bound is None:
        status = "absent"
    else:
        status = "pass" if COMPARISONS[comparison](value, bound) else "miss"
    return {
        "figure": figure,
        "comparison": comparison,
        "bound": bound,
        "bound_text": bound_text,
        "value": value,
        "status": status,
        "description": description,
    }


def _format(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"


def report(
    results: dict[str, float], units: dict[str, str], checked: list[dict[str, Any]]
) -> str:
    """The figures table and the targets table, as text."""
    width = max((len(n) for n in results), default=6)
    lines = [f"{'figure':<{width}}  {'value':>12}  unit"]
    lines += [
        f"{name:<{width}}  {_format(value):>12}  {unit_of(name, units)}"
        for name, value in results.items()
    ]
    if checked:
        lines.append("")
        lines.append("targets")
        for t in checked:
            lines.append(
                f"  {t['status']:<6}  {t['figure']} {t['comparison']} {t['bound_text']}"
                f"  (value {_format(t['value'])}, bound {_format(t['bound'])})"
                f"  {t['description']}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--only", metavar="NAME", help="run bench_NAME.py only")
    parser.add_argument(
        "--strict", action="store_true", help="exit with 1 when a target is missed"
    )
    parser.add_argument(
        "--output", type=Path, default=OUTPUT, help="where to write the JSON results"
    )
    args = parser.parse_args(argv)

    results: dict[str, float] = {}
    units: dict[str, str] = {}
    targets: list[Target] = []
    started = time.perf_counter()
    for path in discover(args.only):
        module = load(path)
        gc.collect()
        gc.freeze()
        try:
            module.run(results, args.quick)
        finally:
            gc.unfreeze()
        units.update(getattr(module, "UNITS", {}))
        targets.extend(getattr(module, "TARGETS", []))
    elapsed = time.perf_counter() - started

    checked = [evaluate(t, results) for t in targets]
    print(report(results, units, checked))
    print(
        f"\n{len(results)} figures in {elapsed:.1f} s{' (quick)' if args.quick else ''}"
    )
    args.output.write_text(
        json.dumps(
            {
                "quick": args.quick,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "elapsed_s": round(elapsed, 3),
                "figures": {
                    name: {"value": value, "unit": unit_of(name, units)}
                    for name, value in results.items()
                },
                "targets": checked,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    missed = [t for t in checked if t["status"] == "miss"]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
