"""Checkpoints at a location every worker reads: a shared path or an object-store URL (fsspec).

A trial always reads and writes its checkpoint in a local directory (``HPO_CHECKPOINT_DIR``).
With a ``checkpoint_url`` (``s3://bucket/prefix``, ``gs://...``, ``file:///mnt/shared/...``,
any filesystem fsspec knows, with its package installed: s3fs, gcsfs, adlfs), the worker copies
that directory to ``<url>/<study>/trial-<number>/step-<step>/`` when the trial reports a
checkpoint (before the report is stored, so a stored checkpoint step always exists remotely) and
when a trial exits after PAUSE, and copies it back before a resumed trial starts on any machine.

Each checkpoint goes to a directory of its own step, written before the step is recorded, so a
worker that dies mid-upload leaves the previous checkpoint intact (object stores have no atomic
directory rename); older step directories are deleted once a newer one is recorded. The
trial's stdout.log and stderr.log stay local.

Written here: fsspec moves the files; which step directory is current comes from the study's
own record (``checkpoint_step``), which no sync tool knows.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from hpo.errors import HpoError

log = logging.getLogger("hpo.checkpoints")
LOCAL_ONLY = frozenset({"stdout.log", "stderr.log"})


class CheckpointError(HpoError):
    """A checkpoint could not be copied to or from the checkpoint URL."""


def _step_name(step: float) -> str:
    return f"step-{int(step)}" if float(step).is_integer() else f"step-{float(step)!r}"


class CheckpointStore:
    """Copies trial checkpoint directories to and from ``url`` (see the module docstring)."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        try:
            import fsspec
        except ImportError as e:  # pragma: no cover - fsspec is in the worker extras
            raise CheckpointError(
                "checkpoint_url needs fsspec: pip install 'hpo[api]' (and s3fs/gcsfs for clouds)"
            ) from e
        try:
            self.fs, root = fsspec.core.url_to_fs(url, **storage_options)
        except (ImportError, ValueError) as e:
            raise CheckpointError(f"checkpoint_url {url!r}: {e}") from e
        self.url = url
        self.root = root.rstrip("/")

    def trial_root(self, study: str, number: int) -> str:
        return f"{self.root}/{study}/trial-{number}"

    def remote(self, study: str, number: int, step: float) -> str:
        return f"{self.trial_root(study, number)}/{_step_name(step)}"

    def upload(self, local: Path, study: str, number: int, step: float) -> str:
        """Copies the checkpoint files of ``local`` to the step's directory; returns its path."""
        dest = self.remote(study, number, step)
        try:
            if self.fs.exists(dest):
                self.fs.rm(dest, recursive=True)
            self.fs.makedirs(dest, exist_ok=True)
            for path in sorted(local.rglob("*")):
                rel = path.relative_to(local)
                if path.is_dir() or (len(rel.parts) == 1 and rel.name in LOCAL_ONLY):
                    continue
                target = f"{dest}/{rel.as_posix()}"
                self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
                self.fs.put_file(str(path), target)
        except Exception as e:  # any filesystem's error: the caller keeps the old checkpoint
            raise CheckpointError(f"cannot upload checkpoint to {self.url} ({dest}): {e}") from e
        return dest

    def download(self, local: Path, study: str, number: int, step: float) -> None:
        """Replaces the checkpoint files of ``local`` by those of the step's directory."""
        src = self.remote(study, number, step)
        try:
            if not self.fs.exists(src):
                raise FileNotFoundError(f"{src} does not exist")
            local.mkdir(parents=True, exist_ok=True)
            for child in local.iterdir():
                if child.name in LOCAL_ONLY:
                    continue
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            for path in self.fs.find(src):
                rel = path[len(src.rstrip("/")) + 1 :]
                target = local / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(path, os.fspath(target))
        except Exception as e:
            raise CheckpointError(
                f"cannot fetch the checkpoint of step {step:g} from {self.url} ({src}): {e}"
            ) from e

    def prune(self, study: str, number: int, keep_step: float) -> None:
        """Deletes the trial's step directories other than ``keep_step`` (best effort)."""
        root = self.trial_root(study, number)
        keep = _step_name(keep_step)
        try:
            for path in self.fs.ls(root, detail=False):
                if path.rstrip("/").rsplit("/", 1)[-1] != keep:
                    self.fs.rm(path, recursive=True)
        except Exception as e:  # stale directories only cost space
            log.warning("could not prune old checkpoints under %s: %s", root, e)


class TrialCheckpoints:
    """One run of one trial against a :class:`CheckpointStore`: what the local executor and the
    Ray actor both do around the run's reports.

    ``before_report`` copies the checkpoint a report declares before the report is stored and
    answers the checkpoint flag to store (False if the copy failed: the report is kept, a resume
    uses the previous checkpoint); ``after_report`` prunes older step directories once a step is
    recorded; ``at_exit`` copies the last reported step if it is not copied yet (a clean exit
    after PAUSE means its checkpoint is saved). Copy errors are logged and appended to
    ``errors``.
    """

    def __init__(
        self,
        store: CheckpointStore,
        local: Path,
        study: str,
        number: int,
        errors: list[str] | None = None,
    ) -> None:
        self.store, self.local, self.study, self.number = store, local, study, number
        self.errors = [] if errors is None else errors
        self.last_step: float | None = None  # highest step reported in this run
        self.uploaded: float | None = None  # last step copied to the store
        self._lock = threading.Lock()

    def fetch(self, step: float) -> None:
        """Replaces the local checkpoint by the stored one of ``step`` (before a resume)."""
        self.store.download(self.local, self.study, self.number, step)

    def before_report(self, step: Any, checkpoint: bool) -> bool:
        if not checkpoint or not isinstance(step, (int, float)):
            return checkpoint
        return self._upload(float(step))

    def after_report(self, step: Any, checkpoint: bool) -> None:
        if isinstance(step, (int, float)):
            self.last_step = max(self.last_step or step, step)
            if checkpoint:
                self.store.prune(self.study, self.number, float(step))

    def at_exit(self) -> bool:
        if self.last_step is None or self.uploaded == self.last_step:
            return True
        return self._upload(self.last_step)

    def _upload(self, step: float) -> bool:
        with self._lock:
            try:
                self.store.upload(self.local, self.study, self.number, step)
            except CheckpointError as e:
                self.errors.append(str(e))
                log.warning("trial %d: %s", self.number, e)
                return False
            self.uploaded = step
            return True
