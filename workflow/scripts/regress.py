"""Symbolic regression of F1 for the studies of one experiment, with one engine.

Rule: ``regress`` (one job per experiment and engine).

Inputs
    ``table`` (or the first input): the experiment's ``summary.parquet`` (or a CSV).
Params
    ``studies``: list of ``{name, features, fixed, extrapolate}`` (the experiment's
    ``studies``); ``engine``: a name of ``mtllaws.regress.ENGINES``; ``seeds``: list of
    int; optional ``target`` (default ``"test_f1_mean"``), ``min_rows`` (20; smaller
    studies, and studies with fewer than 10 configurations, are skipped with a note),
    ``engine_params`` (dict), ``scale`` (100), ``test_size`` (0.1), ``split_seed`` (0),
    ``cv`` (5), ``cv_repeats`` (2), ``bootstrap`` (100).
Outputs
    ``dir`` (or the first output, a ``directory()``): ``<study>.json``,
    ``<study>.png`` and ``<study>.pdf`` per study; ``results`` (JSON list of all
    study results), ``markdown`` and ``latex`` (tables); each of these three
    defaults to ``results.json``, ``table.md`` and ``table.tex`` in ``dir``.
Threads
    Seeds are fitted in parallel on ``threads`` processes.
"""

import logging
from pathlib import Path

from mtllaws.logs import configure_logging
from mtllaws.regress import read_table, run_studies, write_json, write_tables

logger = logging.getLogger(__name__)


def _named(items, key, default=None):
    """``items.key`` of a Snakemake Namedlist, or ``default`` when it has no such name."""
    return getattr(items, key, None) or default


def main(smk) -> None:
    """Run the studies named in the rule's params and write the rule's outputs."""
    params = smk.params
    out_dir = Path(_named(smk.output, "dir", smk.output[0]))
    table = read_table(_named(smk.input, "table", smk.input[0]))
    results = run_studies(
        table,
        list(params.studies),
        out_dir=out_dir,
        skip_insufficient=True,
        min_rows=int(_named(params, "min_rows", 20)),
        engine=params.engine,
        seeds=list(params.seeds),
        target=_named(params, "target", "test_f1_mean"),
        scale=float(_named(params, "scale", 100.0)),
        test_size=float(_named(params, "test_size", 0.1)),
        split_seed=int(_named(params, "split_seed", 0)),
        cv=int(_named(params, "cv", 5)),
        cv_repeats=int(_named(params, "cv_repeats", 2)),
        bootstrap=int(_named(params, "bootstrap", 100)),
        engine_params=dict(_named(params, "engine_params", {})),
        n_jobs=max(1, int(smk.threads)),
    )
    write_json(results, _named(smk.output, "results", out_dir / "results.json"))
    write_tables(
        results,
        markdown=_named(smk.output, "markdown", out_dir / "table.md"),
        latex=_named(smk.output, "latex", out_dir / "table.tex"),
    )
    logger.info("wrote %d studies to %s", len(results), out_dir)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    main(snakemake)  # noqa: F821
