"""Log lines and rich's live progress bar: ``hpo.progress.logs_above_the_bar``, and the SDK's
bar on a real terminal beside a user's own logging handler."""

from __future__ import annotations

import io
import logging
import sys
import textwrap
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from hpo.progress import logs_above_the_bar
from tests.terminal import run_on_a_terminal


def test_stream_handlers_on_the_terminal_write_through_the_bar_while_it_runs(tmp_path) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    real_stderr = sys.stderr
    on_stderr = logging.StreamHandler(real_stderr)
    elsewhere = logging.StreamHandler(io.StringIO())
    to_file = logging.FileHandler(tmp_path / "log.txt")
    lg = logging.getLogger("tests.progress.redirect")
    for h in (on_stderr, elsewhere, to_file):
        lg.addHandler(h)
    lg.setLevel(logging.INFO)
    lg.propagate = False
    try:
        with Progress(console=console, redirect_stdout=False) as prog, logs_above_the_bar():
            prog.add_task("t", total=1)
            assert sys.stderr is not real_stderr  # rich's proxy, since the console is a terminal
            assert on_stderr.stream is sys.stderr
            assert elsewhere.stream is not sys.stderr and to_file.stream is not sys.stderr
            lg.info("a line above the bar")
        # back on the real stream once the bar is gone, and the others never moved
        assert on_stderr.stream is real_stderr
        assert (tmp_path / "log.txt").read_text() == "a line above the bar\n"
        assert elsewhere.stream.getvalue() == "a line above the bar\n"
        assert "a line above the bar" in screen.getvalue()  # printed by the bar's console
    finally:
        for h in (on_stderr, elsewhere, to_file):
            lg.removeHandler(h)
        to_file.close()


def test_off_a_terminal_nothing_moves() -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    h = logging.StreamHandler(sys.stderr)
    logging.getLogger("tests.progress.plain").addHandler(h)
    try:
        with Progress(console=console), logs_above_the_bar():
            assert h.stream is sys.stderr
    finally:
        logging.getLogger("tests.progress.plain").removeHandler(h)


def test_the_sdk_bar_and_a_users_log_lines_on_a_terminal(tmp_path: Path) -> None:
    # the user's handler is made before the bar starts (logging.basicConfig), on the real stderr
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            """
            import logging, sys, time
            import hpo

            logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
            log = logging.getLogger("user")

            def train(t):
                log.info("trial %d trains with x=%.4f", t.number, t.config["x"])
                time.sleep(0.15)  # the bar redraws (10 times a second) between log lines
                return (t.config["x"] - 1.0) ** 2

            c = hpo.Client(f"sqlite:///{sys.argv[1]}")
            s = c.create_study("sdk", {"x": hpo.Float(-3, 3)}, "loss", budget={"max_trials": 8})
            c.run(s, train, n_workers=2, runs_dir=sys.argv[2])
            """
        )
    )
    cmd = [sys.executable, str(script), str(tmp_path / "db"), str(tmp_path / "runs")]
    rc, shown = run_on_a_terminal(cmd, cwd=tmp_path, cols=160, rows=40)
    assert rc == 0, shown
    logged = [line for line in shown if "trains with" in line]
    assert sorted(int(line.split()[2]) for line in logged) == list(range(8)), shown
    assert all(line.startswith("user: trial ") for line in logged), shown
    bars = [line for line in shown if "/8 trials" in line]
    assert len(bars) == 1 and "8/8 trials" in bars[0], shown
    assert shown.index(bars[0]) > max(shown.index(line) for line in logged)
