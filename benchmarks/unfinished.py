"""How far the unfinished runs of a comparison got, and what they can still change.

A Syne Tune MOBSTER seed on an MLP table takes one to two hours of one core, so a comparison's
seeds are finished over several device calls and sessions from their checkpoints
(``<method>-seed<n>.partial`` in ``benchmarks.compare --runs-dir``). This script reads one
setting's runs directory and prints, per unfinished seed, the share of the simulated budget it
has done, the real seconds spent on it so far and its normalized regret so far; then, per method
with unfinished or missing seeds, the lowest and highest mean final regret its seeds can still
end at, set against the best peer with every seed finished and against hpo's method
(``--against``):

* a finished seed counts with its final regret, and so does an unfinished one that is settled:
  on a table, once a run has observed the table's best value (regret 0) the rest of its budget
  cannot change its curve (``settled``), so it counts as finished at 0 (``--finished-only``
  leaves such seeds unfinished);
* an unfinished or missing seed can still end anywhere from 0 up to its regret so far on a table
  (``observed_regret``: the best value observed so far, which can only fall), or, on a synthetic
  function (the incumbent's true value, which can rise again) and for a seed not yet started,
  anywhere upwards: then the mean has no upper bound.

A method whose lowest possible mean lies above the reference cannot end below it, whatever its
remaining seeds give; one whose highest possible mean lies below it will end below. The rest is
"open". This is what decides which seeds are worth the next device call (docs/benchmarks.md,
"Unfinished seeds, and Hartmann6's local optimum").

Progress is read without the peer library: a Syne Tune checkpoint records its events so far
(``progress``, since the session that added this script; older files until their next save
show no regret so far), an hpo checkpoint its simulator's clock and trace (the regret so far on
tables only: a synthetic function's regret needs the configurations, which are in its database).

    python -m benchmarks.unfinished --benchmark digits-mlp-best --hours 0.03 --runs-dir RUNS \\
        [--noise 0] [--workers 4] [--seeds 10] [--against hpo-mobster] [--store-settled]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.compare import (
    Checkpoint,
    SavedRuns,
    StaleRun,
    _trajectory,
    add_setting_args,
    make_benchmark,
    regret_at,
    regret_cell,
    regret_scale,
    run_settings,
    settled_note,
)


@dataclass(frozen=True)
class Progress:
    """One unfinished run: simulated seconds done, real seconds spent, regret so far (None where
    the checkpoint does not tell)."""

    done_s: float | None
    real_s: float
    regret: float | None


def _events(data: dict[str, Any], bb: Any) -> list[tuple[float, Any, float]] | None:
    """The (simulated time, configuration, value) results a checkpoint holds so far; None where
    it does not tell. Syne Tune's record them (``progress``); hpo's record its simulator's trace,
    whose configurations are in the run's database, so only on a table (where the regret needs
    the values alone) are they given, with None for each configuration."""
    if "progress" in data:  # Syne Tune's (benchmarks.peers.synetune._Checkpoint)
        return [(float(t), cfg, float(v)) for t, cfg, v in data["progress"]["events"]]
    executor = data.get("executor")
    if executor is not None and getattr(bb, "observed_regret", False):
        return [(float(e.time), None, float(e.value)) for e in executor["trace"]]
    return None


def _progress(data: dict[str, Any], bb: Any, limit_s: float, scale: float) -> Progress:
    """``progress`` of a checkpoint already read."""
    real_s = float(data.get("seconds", 0.0))
    done_s = None
    if "progress" in data:
        done_s = float(data["progress"]["time"])
    elif data.get("executor") is not None:  # hpo's (benchmarks.compare.Checkpoint)
        done_s = float(data["executor"]["now"])
    traj = _trajectory_of(data, bb)
    regret = regret_at(traj, limit_s, bb, scale, missing=math.inf) if traj else None
    return Progress(done_s, real_s, regret)


def progress(part: Path, bb: Any, limit_s: float, scale: float) -> Progress:
    """What the checkpoint ``part`` says of its run (Syne Tune's ``progress``, or hpo's
    simulator snapshot)."""
    return _progress(Checkpoint.read(part), bb, limit_s, scale)


def _trajectory_of(data: dict[str, Any], bb: Any) -> list[tuple[float, float]]:
    """The trajectory of a checkpoint's results so far ([] where it tells none)."""
    events = _events(data, bb)
    return _trajectory(bb, events) if events else []


def trajectory_so_far(part: Path, bb: Any) -> list[tuple[float, float]] | None:
    """On a table, the trajectory of the unfinished run ``part`` as if it ended now: the highest
    curve it can still end with, since its regret only falls. None on a synthetic function (an
    incumbent's true value can rise again) or where the checkpoint tells no results."""
    if not getattr(bb, "observed_regret", False):
        return None
    return _trajectory_of(Checkpoint.read(part), bb) or None


def is_settled(traj: list[tuple[float, float]], bb: Any, limit_s: float, scale: float) -> bool:
    """Whether a table run's trajectory so far already reached the table's best value (regret
    0): then nothing later can change it (``settled``)."""
    return regret_at(traj, limit_s, bb, scale, missing=math.inf) == 0.0


def settled(
    part: Path, bb: Any, limit_s: float, scale: float, so_far: bool = False
) -> list[tuple[float, float]] | None:
    """The whole trajectory of an unfinished run whose curve can no longer change, or None;
    with ``so_far``, the trajectory of any unfinished run on a table as if it ended now
    (``trajectory_so_far``).

    On a table (``observed_regret``) a run's regret is the best value observed so far, and once
    that is the table's best value (regret 0) nothing later can lower it: the trajectory
    (``compare._trajectory``) records only improvements, so the events so far already give it
    for the whole budget, and the run counts as finished with final regret 0. On a synthetic
    function the incumbent's true value can rise again, so no run there is settled early.
    """
    traj = trajectory_so_far(part, bb)
    return traj if traj and (so_far or is_settled(traj, bb, limit_s, scale)) else None


def store_settled(
    saved: SavedRuns, method: str, seeds: range, bb: Any, limit_s: float
) -> list[int]:
    """Stores each settled unfinished run of ``method`` as a finished run and removes its
    checkpoint (the checkpoint of a Syne Tune search is 1-3 MB; the run's file is its
    trajectory). The file says so (``"settled"``: where the run stood) and keeps the checkpoint's
    "from" and real seconds so far. Returns the seeds stored."""
    assert saved.dir is not None
    if not getattr(bb, "observed_regret", False):
        return []
    scale = regret_scale(bb)
    done: list[int] = []
    for seed in seeds:
        part = Path(str(saved.checkpoint(method, seed)))
        if saved.load(method, seed) is not None or not part.exists():
            continue
        data = Checkpoint.read(part)
        traj = _trajectory_of(data, bb)
        if not traj or not is_settled(traj, bb, limit_s, scale):
            continue
        p = _progress(data, bb, limit_s, scale)
        out: dict[str, Any] = {"trajectory": traj, "seconds": p.real_s}
        settings = run_settings(method)
        if settings is not None:
            out["settings"] = settings
        out["from"] = "; then ".join(data.get("from", []))
        share = None if p.done_s is None else p.done_s / limit_s
        out["settled"] = settled_note(share, from_checkpoint=True)
        path = saved.dir / f"{method}-seed{seed}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(out))
        tmp.replace(path)
        part.unlink()
        done.append(seed)
    return done


@dataclass(frozen=True)
class Bounds:
    """A method's seeds: finished finals, unfinished runs, seeds not started; the range its mean
    final regret can still end in."""

    finals: dict[int, float]
    unfinished: dict[int, Progress]
    missing: list[int]
    observed: bool  # regret so far can only fall (tables)
    # unfinished seeds already at regret 0 on a table (``settled``): counted in ``finals`` at 0
    settled: dict[int, Progress] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.finals) + len(self.unfinished) + len(self.missing)

    def lowest(self) -> float:
        return sum(self.finals.values()) / self.n

    def highest(self) -> float:
        """Unbounded while a seed is not started, or unfinished where regret so far can rise
        again (a synthetic function) or is not known."""
        so_far = [p.regret for p in self.unfinished.values()]
        if self.missing or (so_far and not self.observed) or None in so_far:
            return math.inf
        return (sum(self.finals.values()) + sum(so_far)) / self.n  # type: ignore[arg-type]


def bounds(
    saved: SavedRuns,
    method: str,
    seeds: range,
    bb: Any,
    limit_s: float,
    scale: float,
    finished_only: bool = False,
) -> Bounds:
    """``method``'s seeds as they stand; an unfinished seed that is ``settled`` counts as
    finished at 0 (unless ``finished_only``)."""
    finals: dict[int, float] = {}
    unfinished: dict[int, Progress] = {}
    missing: list[int] = []
    done_early: dict[int, Progress] = {}
    observed = bool(getattr(bb, "observed_regret", False))
    for seed in seeds:
        got = saved.load(method, seed)
        part = saved.checkpoint(method, seed)  # (None only without a runs directory)
        if got is not None and not isinstance(got, str):
            finals[seed] = regret_at(got[0], limit_s, bb, scale, missing=math.inf)
        elif part is not None and Path(part).exists():
            p = progress(Path(part), bb, limit_s, scale)
            if not finished_only and observed and p.regret == 0.0:  # ``settled``
                finals[seed], done_early[seed] = 0.0, p
            else:
                unfinished[seed] = p
        else:
            missing.append(seed)
    return Bounds(finals, unfinished, missing, observed, done_early)


def verdict(b: Bounds, name: str, reference: float) -> str:
    """Whether ``b``'s mean final can still end below ``reference`` (``name``'s mean final)."""
    lo, hi = b.lowest(), b.highest()
    if lo > reference:
        return f"ends above {name}'s {regret_cell(reference)} whatever its other seeds give"
    if hi < reference:
        return f"ends below {name}'s {regret_cell(reference)} whatever its other seeds give"
    return f"open against {name}'s {regret_cell(reference)}"


def _cell(x: float) -> str:
    return "unbounded" if math.isinf(x) else regret_cell(x)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_setting_args(ap)
    ap.add_argument("--runs-dir", required=True)
    ap.add_argument(
        "--against", default="hpo-mobster", help="hpo's method to set the others against"
    )
    ap.add_argument(
        "--methods",
        default=None,
        help="comma-separated methods to bound (default: those with an unfinished seed)",
    )
    ap.add_argument(
        "--finished-only",
        action="store_true",
        help="count only finished runs as finished (not the unfinished ones already at regret 0"
        " on a table)",
    )
    ap.add_argument(
        "--store-settled",
        action="store_true",
        help="store each settled run (regret 0 on a table) as a finished run, in place of its"
        " checkpoint",
    )
    args = ap.parse_args(argv)
    if args.hours <= 0 or args.seeds < 1:
        ap.error("--hours must be > 0 and --seeds >= 1")
    saved = SavedRuns(
        args.runs_dir, args.benchmark, args.workers, args.hours, args.noise, read_only=True
    )
    folder = saved.dir
    assert folder is not None
    if not folder.is_dir():
        ap.error(f"{folder} does not exist: no runs of this setting in {args.runs_dir}")
    stored = saved.methods(checkpoints=True)
    names = [m.strip() for m in (args.methods or "").split(",") if m.strip()]
    unknown = [m for m in names if m not in stored]
    if unknown:
        ap.error(f"no runs of {', '.join(unknown)} in {folder}")
    bb = make_benchmark(args.benchmark, args.noise)
    scale, limit_s, seeds = regret_scale(bb), args.hours * 3600, range(args.seeds)
    if args.store_settled:
        for m in sorted(stored):
            for seed in store_settled(saved, m, seeds, bb, limit_s):
                print(f"stored {m} seed {seed} (settled) as a finished run", file=sys.stderr)
    per_method: dict[str, Bounds] = {}
    for m in sorted(stored):
        try:
            per_method[m] = bounds(saved, m, seeds, bb, limit_s, scale, args.finished_only)
        except StaleRun as e:  # made with other settings than the method has now
            print(f"left out: {e}", file=sys.stderr)
    complete = {m: b.lowest() for m, b in per_method.items() if len(b.finals) == b.n}
    peers = {m: v for m, v in complete.items() if not m.startswith("hpo-")}

    if not names:
        names = [m for m, b in per_method.items() if b.unfinished or b.settled]
    todo = {
        m: b
        for m in names
        if (b := per_method.get(m)) is not None and (len(b.finals) < b.n or b.settled)
    }
    print(f"# {args.benchmark}: {args.workers} workers, {args.hours:g} h, seeds 0-{seeds[-1]}")
    print(f"runs in {folder}\n")
    if not todo:
        print("no unfinished seeds" if not args.methods else "all their seeds are finished")
        return 0
    print("| method | seed | budget done | real s so far | regret so far |")
    print("|---|---:|---:|---:|---:|")
    for m, b in todo.items():
        for seed, p in sorted({**b.unfinished, **b.settled}.items()):
            done = "?" if p.done_s is None else f"{p.done_s / limit_s:.0%}"
            regret = "?" if p.regret is None else regret_cell(p.regret)
            if seed in b.settled:
                regret += " (settled: counted as finished)"
            print(f"| {m} | {seed} | {done} | {p.real_s:.0f} | {regret} |")
    best = min(peers, key=lambda m: peers[m]) if peers else None
    print("\n| method | finished | unfinished | not started | mean final: lowest | highest |")
    print("|---|---:|---:|---:|---:|---:|")
    for m, b in todo.items():
        print(
            f"| {m} | {len(b.finals)}{f' ({len(b.settled)} settled)' if b.settled else ''} | "
            f"{len(b.unfinished)} | {len(b.missing)} | "
            f"{_cell(b.lowest())} | {_cell(b.highest())} |"
        )
    print()
    for m, b in todo.items():
        said = []
        if best is not None and best != m:
            said.append(verdict(b, best, peers[best]) + " (the best peer with every seed)")
        if args.against in complete and args.against != m:
            said.append(verdict(b, args.against, complete[args.against]))
        print(f"- {m}: " + ("; ".join(said) if said else "no finished method to set it against"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
