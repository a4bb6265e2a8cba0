"""Symbolic regression of F1 for one study of one experiment, with one engine.

Rule: ``regress`` (one job per experiment, engine and study).

Inputs
    ``table``: the experiment's ``summary.parquet``.
Params
    ``studies`` (the one-element list of the study), ``engine`` (a name of
    ``mtllaws.regress.ENGINES``), ``seeds``, ``target``, ``min_rows`` (smaller
    studies, and studies with fewer than 10 configurations, are skipped with a
    note), ``test_size``, ``cv``, ``cv_repeats``, ``bootstrap`` and
    ``engine_params``: the config's ``regress`` settings. The settings no rule
    passes (``scale``, ``split``, ``split_seed``) are ``mtllaws.regress.DEFAULTS``.
Outputs
    ``dir`` (a ``directory()``): ``<study>.json``, ``<study>.png`` and
    ``<study>.pdf`` per study, ``results.json`` (all study results), ``table.md``
    and ``table.tex``.
Threads
    Seeds are fitted in parallel on ``threads`` processes.
"""

import logging
from pathlib import Path

from mtllaws.logs import configure_logging
from mtllaws.regress import read_table, run_studies, write_json, write_tables

logger = logging.getLogger(__name__)


def main(smk) -> None:
    """Run the studies named in the rule's params and write the rule's outputs."""
    params = smk.params
    out_dir = Path(smk.output.dir)
    results = run_studies(
        read_table(smk.input.table),
        list(params.studies),
        out_dir=out_dir,
        skip_insufficient=True,
        min_rows=int(params.min_rows),
        engine=params.engine,
        seeds=list(params.seeds),
        target=params.target,
        test_size=float(params.test_size),
        cv=int(params.cv),
        cv_repeats=int(params.cv_repeats),
        bootstrap=int(params.bootstrap),
        engine_params=dict(params.engine_params),
        n_jobs=max(1, int(smk.threads)),
    )
    write_json(results, out_dir / "results.json")
    write_tables(results, markdown=out_dir / "table.md", latex=out_dir / "table.tex")
    logger.info("wrote %d studies to %s", len(results), out_dir)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    main(snakemake)  # noqa: F821
