"""Runs a command on a pseudo-terminal and reads the screen a user would see (pyte's VT100
emulator applies the cursor moves and erasures of rich's live progress bars)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pyte


def run_on_a_terminal(
    cmd: list[str],
    cwd: Path,
    cols: int,
    rows: int,
    env: dict[str, str] | None = None,
    timeout: float = 240,
) -> tuple[int, list[str]]:
    """Runs ``cmd`` with stdin, stdout and stderr on a pseudo-terminal of ``cols`` x ``rows``;
    returns its exit code and the non-empty lines on the screen at the end, right-stripped.
    ``env`` is added to this process's environment."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    full_env = {**os.environ, "TERM": "xterm", "COLUMNS": str(cols), **(env or {})}
    full_env.pop("NO_COLOR", None)
    p = subprocess.Popen(
        cmd, cwd=cwd, stdin=follower, stdout=follower, stderr=follower, env=full_env
    )
    os.close(follower)
    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([leader], [], [], 0.2)[0]:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # Linux: EIO once the process has closed its end
                    break
                if not chunk:
                    break
                stream.feed(chunk)
            elif p.poll() is not None:
                break
        rc = p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
        if p.poll() is None:
            p.kill()
    return rc, [line.rstrip() for line in screen.display if line.strip()]
