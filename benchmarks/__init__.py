"""Benchmarks of hpo against its peers (see docs/benchmarks.md). This file is standard-library
code: benchmarks.peers.synetune_legacy_runner imports it under another interpreter."""

from __future__ import annotations


def package_versions(names: tuple[str, ...]) -> list[str]:
    """``"<name> <version>"`` for each of ``names`` installed in this interpreter, in order; a
    package not installed is left out."""
    from importlib import metadata

    out = []
    for name in names:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return out
