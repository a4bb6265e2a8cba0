"""Tests of mtllaws.logs: a script's traceback lands in its rule log."""

import subprocess
import sys

from mtllaws.logs import FAILED_MARK, configure_logging, failure_line

SCRIPT = """
import logging, sys
from mtllaws.logs import configure_logging
configure_logging(sys.argv[1])
logging.getLogger("job").info("working")
raise ValueError("grid point e/T2_s0: too few tokens\\nsecond line of the message")
"""


def test_uncaught_exception_goes_into_the_log(tmp_path):
    # issue 19 item 2: logs stayed empty when a job failed
    script, log = tmp_path / "job.py", tmp_path / "logs" / "job.log"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(log)], capture_output=True, text=True)
    assert proc.returncode == 1
    text = log.read_text()
    assert "INFO job: working" in text
    assert f"{FAILED_MARK}ValueError: grid point e/T2_s0: too few tokens\n" in text
    assert "Traceback (most recent call last)" in text
    assert "Traceback (most recent call last)" in proc.stderr  # Snakemake still shows it
    assert failure_line(log) == "ValueError: grid point e/T2_s0: too few tokens"


def test_failure_line_of_clean_missing_and_old_style_logs(tmp_path):
    ok = tmp_path / "ok.log"
    ok.write_text("INFO done\n")
    assert failure_line(ok) is None
    assert failure_line(tmp_path / "missing.log") is None
    old = tmp_path / "old.log"
    old.write_text(
        "INFO start\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
        "    boom()\nRuntimeError: boom\n"
    )
    assert failure_line(old) == "RuntimeError: boom"


def test_without_a_log_file_records_go_to_stderr(capsys):
    import logging

    configure_logging(None)
    logging.getLogger("t").warning("to stderr")
    assert "to stderr" in capsys.readouterr().err
