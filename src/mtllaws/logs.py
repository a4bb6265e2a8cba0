"""Rule logs: every workflow script sends its records, and its traceback, to its ``log:``.

Snakemake runs a rule's ``script:`` in a fresh Python process and, when the job
fails, points the user at the rule's log files. :func:`configure_logging` makes
that pointer true: log records go to the log file, and an exception that ends the
script is written there too, as one line ``job failed: <Type>: <first line of the
message>`` followed by the full traceback (and still printed to stderr as usual).
:func:`failure_line` reads that line back, which is how ``mtllaws progress``
reports why a grid point failed.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

__all__ = ["FAILED_MARK", "configure_logging", "failure_line"]

#: The text that starts the one-line summary of the exception that ended a job.
FAILED_MARK = "job failed: "

_TRACEBACK = "Traceback (most recent call last):"
logger = logging.getLogger("mtllaws")


def _summary(exc_type, exc) -> str:
    lines = str(exc).strip().splitlines()
    return f"{exc_type.__name__}: {lines[0]}" if lines else exc_type.__name__


def configure_logging(log_path: str | os.PathLike | None, level: int = logging.INFO) -> None:
    """Send log records and an uncaught exception's traceback to the rule's log file.

    Parameters
    ----------
    log_path : path-like or None
        The rule's log file (truncated); records go to stderr when None.
    level : int
        The logging level.

    Notes
    -----
    The traceback is written by a :data:`sys.excepthook` that then calls the
    previous hook, so Snakemake's own error report still shows it on stderr.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(log_path, mode="w")]
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    if not log_path:
        return
    previous = sys.excepthook

    def log_exception(exc_type, exc, tb) -> None:
        if not issubclass(exc_type, KeyboardInterrupt):
            logger.error(
                "%s%s\n%s",
                FAILED_MARK,
                _summary(exc_type, exc),
                "".join(traceback.format_exception(exc_type, exc, tb)).rstrip(),
            )
            for handler in logging.getLogger().handlers:
                handler.flush()
        previous(exc_type, exc, tb)

    sys.excepthook = log_exception


def failure_line(log_path: str | os.PathLike) -> str | None:
    """Why the job of a log failed: ``<Type>: <first line of the message>``.

    Parameters
    ----------
    log_path : path-like
        A rule's log file.

    Returns
    -------
    str or None
        None when the file is missing or records no failure. A log written
        before :data:`FAILED_MARK` existed gives the last line of its traceback.
    """
    try:
        text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        at = line.find(FAILED_MARK)
        if at >= 0:
            return line[at + len(FAILED_MARK) :].strip()
    if _TRACEBACK in text:
        tail = [line for line in text.split(_TRACEBACK)[-1].splitlines() if line.strip()]
        error = [line for line in tail if not line.startswith((" ", "\t"))]
        return (error or tail or ["Traceback"])[0].strip()
    return None
