"""Runs one Syne Tune search in another interpreter: the legacy side of benchmarks.peers.synetune.

Syne Tune 0.15.0 removed MOBSTER, DEHB and the synchronous Hyperband, and syne-tune<0.15 needs
numpy<1.27, so those methods run in a separate virtualenv (``HPO_SYNETUNE_LEGACY_PYTHON``).
:func:`benchmarks.peers.synetune.run` starts this module there with ``PYTHONPATH`` at the
repository root::

    $HPO_SYNETUNE_LEGACY_PYTHON -m benchmarks.peers.synetune_legacy_runner < job.json

The job is one JSON object: ``benchmark`` (:func:`benchmark_spec`), ``method`` (a method of
benchmarks.peers.synetune that the syne_tune installed there has), ``seed``, ``workers``,
``limit_s``, ``clock`` and, optionally, ``checkpoint`` (a file the search resumes from and
saves to) and ``origin`` (where this part runs, recorded in it with this interpreter's
numerical stack, :func:`origin_here`). The reply is the last line of stdout, one JSON
object: ``events`` (``[[simulated_seconds, config, value], ...]``, as
:func:`benchmarks.peers.synetune.simulate` returns them), ``benchmark`` (the spec of the
benchmark rebuilt here, for the caller to compare) and ``syne_tune`` (the version); or
``unavailable`` (why the method can't run there). Anything else the libraries print goes to
stderr. Floats survive JSON exactly (``repr`` round-trips).

A benchmark is rebuilt from its description, not pickled: a
:class:`~benchmarks.synthetic.SyntheticBenchmark` from its dataclass fields (name, space,
optimum, max_epochs, noise, epoch_seconds, seed: everything its values depend on), a table of
benchmarks/tabular from its name and metric. Both modules are standard-library code; nothing
here imports hpo or the project's dependencies beyond numpy and syne_tune.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any, TextIO


class BenchmarkNotRebuildable(ValueError):
    """The benchmark has no description another interpreter could rebuild it from."""


def benchmark_spec(bb: Any) -> dict[str, Any]:
    """A JSON-able description of ``bb`` from which :func:`benchmark_from_spec` rebuilds it."""
    from benchmarks import tabular
    from benchmarks.synthetic import SyntheticBenchmark

    if isinstance(bb, SyntheticBenchmark):
        fields = {f.name: getattr(bb, f.name) for f in dataclasses.fields(bb)}
        fields["space"] = {k: dict(p) for k, p in bb.space.items()}
        return {"kind": "synthetic", "fields": fields}
    if isinstance(bb, tabular.TabularBenchmark):
        if not (tabular.DATA / f"{bb.table}.json.gz").exists():
            raise BenchmarkNotRebuildable(
                f"the table {bb.name!r} is not in {tabular.DATA}, where it is looked up by name"
            )
        return {
            "kind": "tabular",
            "name": bb.name,
            "metric": "val_acc" if bb._sign < 0 else "val_loss",
            # not needed to rebuild it: to check that the same table came back
            "generated": bb.generated,
            "rows": len(bb.rows),
            "max_epochs": bb.max_epochs,
            "optimum": bb.optimum,
        }
    raise BenchmarkNotRebuildable(
        f"a {type(bb).__name__} cannot be rebuilt there: only SyntheticBenchmark "
        "(benchmarks/synthetic.py) and tables of benchmarks/tabular/data are"
    )


def benchmark_from_spec(spec: dict[str, Any]) -> Any:
    """The benchmark that :func:`benchmark_spec` described."""
    if spec["kind"] == "synthetic":
        from benchmarks.synthetic import SyntheticBenchmark

        return SyntheticBenchmark(**spec["fields"])
    if spec["kind"] == "tabular":
        from benchmarks.tabular import load

        return load(spec["name"], spec["metric"])
    raise BenchmarkNotRebuildable(f"unknown benchmark kind {spec['kind']!r}")


def origin_here(origin: str | None) -> str | None:
    """``origin`` (where the caller runs, with the caller's numerical stack) and the stack of
    this interpreter, which is the one whose floating point the search's numbers come from:
    "<origin>; run by Python 3.12.1 with numpy 2.5.2, scipy 1.18.1, autograd 1.9.1, syne-tune
    0.13.0" (a package not installed is left out)."""
    if origin is None:
        return None
    import platform

    from benchmarks import package_versions

    libs = package_versions(("numpy", "scipy", "autograd", "syne-tune"))
    return f"{origin}; run by Python {platform.python_version()} with {', '.join(libs)}"


def serve(job: dict[str, Any]) -> dict[str, Any]:
    """The reply to one job (see the module docstring)."""
    try:
        import syne_tune

        from benchmarks.peers.synetune import MethodUnavailable, simulate
    except ImportError as e:
        return {"unavailable": f"{sys.executable} cannot import syne_tune and numpy ({e})."}
    bb = benchmark_from_spec(job["benchmark"])
    try:
        events = simulate(
            bb,
            job["method"],
            int(job["seed"]),
            int(job["workers"]),
            float(job["limit_s"]),
            clock=job["clock"],
            checkpoint=job.get("checkpoint"),
            origin=origin_here(job.get("origin")),
        )
    except MethodUnavailable as e:
        return {"unavailable": str(e)}
    return {
        "events": events,
        "benchmark": benchmark_spec(bb),
        "syne_tune": syne_tune.__version__,
    }


def main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    job = json.load(stdin)
    sys.stdout = sys.stderr  # what Syne Tune prints (missing optional dependencies) stays apart
    try:
        reply = serve(job)
    finally:
        sys.stdout = stdout
    stdout.write("\n" + json.dumps(reply) + "\n")
    stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
