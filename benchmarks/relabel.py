"""Moves or copies stored comparison runs from one method's name to another's.

When a default of one of hpo's schedulers changes, ``benchmarks.compare`` refuses the runs its
method stored before (``StaleRun``: their recorded settings differ from the method's now). They
keep their place under the variant that now runs the old default, and the runs of the variant
that measured the new default become the method's: at the twenty-third session
``hpo-mobster`` -> ``hpo-mobster-acqmax`` (by hand then), at the forty-third
``hpo-mobster`` -> ``hpo-mobster-rep`` and ``hpo-mobster-norep`` -> ``hpo-mobster`` (copied,
so the variant's rows stay as they were):

    python -m benchmarks.relabel --runs-dir RUNS --source hpo-mobster --target hpo-mobster-rep
    python -m benchmarks.relabel --runs-dir RUNS --source hpo-mobster-norep --target hpo-mobster \\
        --copy

Every ``<source>-seed<n>.json`` in each comparison directory of RUNS is moved (or copied) to
``<target>-seed<n>.json`` where its recorded settings are the target's now
(``benchmarks.compare.check_settings``); a file recorded before settings were, or whose settings
are not the target's, is left where it is, and so is one whose target file already exists
(nothing is overwritten). An unfinished run's checkpoint (``.partial``) is left too: resumed
under the new name it would mix the two names' code. The moved file keeps its trajectory,
settings and origin, and says what it was stored as (``"relabelled"``). Prints one line per file
and what it did; exits 1 where nothing matched.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

from benchmarks.compare import StaleRun, check_settings, run_settings


class Done(NamedTuple):
    """What ``relabel`` did with one stored run: ``what`` in words, ``moved`` whether it was
    moved or copied (False: left where it was)."""

    path: Path
    what: str
    moved: bool


def relabel(runs_dir: Path, source: str, target: str, copy: bool = False) -> list[Done]:
    """What was done with each stored ``source`` run under ``runs_dir``."""
    if run_settings(target) is None:
        raise ValueError(f"{target} is not one of hpo's methods: only their runs record settings")
    out: list[Done] = []
    for path in sorted(runs_dir.glob(f"*/{source}-seed*.json")):
        seed = path.name[len(source) + len("-seed") : -len(".json")]
        if not seed.isdigit():  # another method whose name starts with source's
            continue
        data = json.loads(path.read_text())
        dest = path.with_name(f"{target}-seed{seed}.json")
        if dest.exists():
            out.append(Done(path, f"left: {dest.name} exists", False))
            continue
        if data.get("settings") is None:
            out.append(Done(path, "left: made before runs recorded their settings", False))
            continue
        try:
            check_settings(target, data["settings"], path)
        except StaleRun as e:
            out.append(Done(path, f"left: {e}", False))
            continue
        data["relabelled"] = (
            f"stored as {source} until {time.strftime('%Y-%m-%d', time.gmtime())}"
            + (" (copied)" if copy else "")
        )
        tmp = dest.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(dest)
        if not copy:
            path.unlink()
        out.append(Done(path, f"{'copied' if copy else 'moved'} to {dest.name}", True))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs-dir", required=True, type=Path)
    ap.add_argument("--source", required=True, help="the method the runs are stored under")
    ap.add_argument("--target", required=True, help="the method they are made with now")
    ap.add_argument("--copy", action="store_true", help="keep the source's files too")
    args = ap.parse_args(argv)
    if args.source == args.target:
        ap.error("--source and --target are the same method")
    if not args.runs_dir.is_dir():
        ap.error(f"--runs-dir {args.runs_dir} is not a directory")
    try:
        done = relabel(args.runs_dir, args.source, args.target, args.copy)
    except ValueError as e:
        ap.error(str(e))
    for d in done:
        print(f"{d.path.parent.name}/{d.path.name}: {d.what}")
    if not any(d.moved for d in done):
        print(f"no {args.source} run moved", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
