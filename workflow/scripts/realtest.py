"""The test of the laws on real auxiliary tasks for one ``real_tasks`` study.

Rule: ``realtest`` (one job per experiment and study).

Inputs
    ``runs``: the experiment's ``runs.parquet``.
Params
    ``study`` (the study), ``engines`` (the regress config's, used when the study names
    none), ``seeds``, ``target``, ``min_rows``, ``test_size``, ``cv``, ``cv_repeats``,
    ``bootstrap`` and ``engine_params`` (engine -> parameters): the config's ``regress``
    settings.
Outputs
    ``markdown``, ``json``, ``png``, ``pdf`` (:func:`mtllaws.realtest.write_realtest`).
"""

import logging
from pathlib import Path

from mtllaws.logs import configure_logging
from mtllaws.realtest import command_line, run_realtest

logger = logging.getLogger(__name__)


def main(smk) -> None:
    """Fit, predict and match; write the rule's outputs."""
    p = smk.params
    study = dict(p.study)
    engines = list(study.get("engines") or p.engines)
    options = dict(
        seeds=list(p.seeds),
        cv=int(p.cv),
        cv_repeats=int(p.cv_repeats),
        bootstrap=int(p.bootstrap),
        min_rows=int(p.min_rows),
    )
    params = {e: v for e, v in dict(p.engine_params).items() if e in engines and any(v.values())}
    command = (
        f"snakemake --cores {smk.threads} {smk.output.markdown}\n# or, on the runs table:\n"
        + command_line(
            smk.input.runs, {**study, "engines": engines}, engine_params=params, **options
        )
    )
    run_realtest(
        smk.input.runs,
        study,
        engines=engines,
        markdown=smk.output.markdown,
        json_path=smk.output.json,
        figure=str(Path(smk.output.png).with_suffix("")),
        command=command,
        engine_params=params,
        n_jobs=max(1, int(smk.threads)),
        target=p.target,
        test_size=float(p.test_size),
        **options,
    )


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821
    main(snakemake)  # noqa: F821
