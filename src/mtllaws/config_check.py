"""The workflow config's checks: everything decided before any job runs.

:func:`validate_config` applies the JSON schema (defaults filled in) with a one-line
error; :func:`check_config` checks what the schema cannot: the grid expands, every α
is at least 1/c and every configuration fits the corpus (:func:`corpus_facts`), the
studies name existing columns (a relatedness measure only when the experiment's
``measures`` enables it) and match the grid, the ``measures`` are registered, and the
regression settings
(:func:`check_regress_config`) name known engines and allow an honest validation.
``workflow/rules/common.smk`` calls both at parse time.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mtllaws.grid import expand_experiment, pattern_label
from mtllaws.paths import CORPUS
from mtllaws.relatedness import MEASURES, TARGET_COLUMN, enabled_measures, measure_columns
from mtllaws.settings import model_overrides

__all__ = [
    "CONLL2003_FACTS",
    "check_config",
    "check_regress_config",
    "corpus_facts",
    "validate_config",
]

logger = logging.getLogger(__name__)


def validate_config(config: dict, schema: str | os.PathLike) -> None:
    """Validate ``config`` with the JSON schema (filling in defaults); short errors.

    Snakemake's own error for a schema violation prints the whole schema after the
    message (hundreds of lines). This reports the location first, in one line.

    Parameters
    ----------
    config : dict
        The merged config; defaults are filled in place.
    schema : path-like
        The YAML schema (an absolute path).

    Raises
    ------
    ValueError
        ``config key <location>: <what is wrong>; see <schema>``, for the most
        relevant violation (:func:`jsonschema.exceptions.best_match`).
    """
    import copy

    import jsonschema
    from snakemake.utils import validate
    from snakemake_interface_common.exceptions import WorkflowError

    original = copy.deepcopy(config)
    try:
        validate(config, str(schema))
    except WorkflowError as exc:
        import yaml

        with open(schema, encoding="utf-8") as fh:
            spec = yaml.safe_load(fh)
        validator = jsonschema.Draft202012Validator(spec)
        error = jsonschema.exceptions.best_match(validator.iter_errors(original))
        if error is None:  # the violation needs the defaults: give Snakemake's first line
            first = str(exc).strip().splitlines()
            raise ValueError(f"config: {first[0] if first else exc}") from None
        where = "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        ).lstrip(".") or "(top level)"
        message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
        raise ValueError(
            f"config key {where}: {message}; fix it (allowed keys and values: {schema})"
        ) from None


#: What is known of the default corpus (CoNLL-2003 as pinned by corpus.sha256.train)
#: before it is downloaded: its IO label count and training tokens.
CONLL2003_FACTS = {
    "sha256": "213953b5522fb7924802d883e50f027b2c6ffb5d4d0e63368ed82909f9b60423",
    "n_classes": 5,
    "n_train": 203621,
}

def _count_train(path: Path) -> tuple[int, int]:
    """IO label count and token count of a CoNLL training file, by one cheap scan.

    ``bytes.split()`` splits on ASCII blanks only, as :func:`mtllaws.corpus.read_conll`.
    """
    tokens, types = 0, set()
    for line in path.read_bytes().split(b"\n"):
        parts = line.split()
        if not parts or parts[0] == b"-DOCSTART-":
            continue
        tokens += 1
        tag = parts[-1]
        if tag[:2] in (b"B-", b"I-"):
            types.add(tag[2:])
    return 1 + len(types), tokens


def corpus_facts(settings: Mapping, *, root: str | os.PathLike = ".") -> dict | None:
    """The label count ``c`` and training tokens of a corpus, known before any job runs.

    Read from the corpus's ``train.txt`` when it is on disk (``corpus.dir`` or the
    downloaded copy), else from the prepared cache's ``meta.json``, else, for the
    pinned CoNLL-2003 download, from :data:`CONLL2003_FACTS`.

    Parameters
    ----------
    settings : mapping
        An experiment's ``corpus`` settings.
    root : path-like
        The workflow's working directory.

    Returns
    -------
    dict or None
        ``n_classes``, ``n_train`` and ``source`` (where they were read), or None
        when nothing is known yet (another corpus, not downloaded).
    """
    root = Path(root)
    folder = (
        Path(settings["dir"])
        if settings.get("dir")
        else Path(CORPUS["download"].format(corpus=settings["name"]))
    )
    train = folder / "train.txt" if folder.is_absolute() else root / folder / "train.txt"
    if train.is_file():
        c, n = _count_train(train)
        return {"n_classes": c, "n_train": n, "source": str(train)}
    meta = root / CORPUS["prepared"].format(corpus=settings["name"]) / "meta.json"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        return {
            "n_classes": len(data["labels"]),
            "n_train": int(data["shapes"]["train_y"][0]),
            "source": str(meta),
        }
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        pass
    if not settings.get("dir") and (settings.get("sha256") or {}).get("train") == (
        CONLL2003_FACTS["sha256"]
    ):
        return {
            "n_classes": CONLL2003_FACTS["n_classes"],
            "n_train": CONLL2003_FACTS["n_train"],
            "source": "CoNLL-2003 as pinned by corpus.sha256.train (not downloaded yet)",
        }
    return None


def _check_grid_fits(name: str, exp: Mapping, points, facts: Mapping) -> None:
    """α ≥ 1/c and enough training tokens for every configuration of the grid."""
    c, n_train, source = facts["n_classes"], facts["n_train"], facts["source"]
    slices = exp.get("slices", "disjoint")
    balanced = exp.get("mode", "balanced") == "balanced"
    low = sorted({p.alpha for p in points if p.alpha is not None and p.alpha < 1 / c - 1e-12})
    if low:
        raise ValueError(
            f"experiments.{name}.grid: alpha {low} below 1/c = 1/{c} = {1 / c:.6g} (c = {c} IO "
            f"labels of the corpus, from {source}); M(alpha) is no transition matrix there: "
            f"use alphas in [{1 / c:.6g}, 1]"
        )
    worst, over = None, set()
    for p in points:
        n_syn_tasks = p.n_tasks - 1
        need = max(p.n_ner, p.n_syn) if slices == "shared" else p.n_ner + n_syn_tasks * p.n_syn
        if need > n_train:
            over.add(p.config_id)
            if worst is None or need > worst[0]:
                worst = (need, p)
    if worst is None:
        return
    need, p = worst
    if slices == "shared":
        formula = f"n = {p.n_ner}" if balanced else f"max(n_ner, n_syn) = max({p.n_ner}, {p.n_syn})"
        fix = "n_tokens_per_task" if balanced else "n_ner or n_syn"
    elif balanced:
        formula = f"T*n = {p.n_tasks}*{p.n_ner} = {need}"
        fix = "n_tasks or n_tokens_per_task"
    else:
        formula = f"n_ner + (T-1)*n_syn = {p.n_ner} + {p.n_tasks - 1}*{p.n_syn} = {need}"
        fix = "n_tasks, n_ner or n_syn"
    raise ValueError(
        f"experiments.{name}.grid: configuration {p.config_id} needs {formula} training "
        f"tokens ({slices} slices) but the corpus has {n_train} (from {source}); "
        f"{len(over)} configuration(s) do not fit: {sorted(over)[:5]}"
        f"{' ...' if len(over) > 5 else ''}; lower {fix}"
    )


def _summary_columns(points, measures=("ami",)) -> set[str]:
    """The columns the experiment's summary table will have (per-type F1 aside)."""
    from mtllaws.shards import GROUP_KEYS, RUN_COLUMNS

    metrics = [c for c, kind in RUN_COLUMNS.items() if kind in "if" and c not in GROUP_KEYS]
    metrics += [measure_columns(m).mean for m in measures if measure_columns(m).mean
                not in metrics]
    metrics += ["epochs_run", "train_time_s", "eval_time_s"]
    for split in ("dev", "test"):
        metrics += [f"{split}_{k}" for k in ("n_gold", "n_pred", "n_correct", "n_tokens")]
    metrics = [m for m in metrics if m != "seed"]
    return {*GROUP_KEYS, "count", *(f"{m}_{s}" for m in metrics for s in ("mean", "std"))}


def _measure_of(key: str) -> str | None:
    """The registered measure a study column or alias stands for, if any."""
    for measure in MEASURES.values():
        cols = measure_columns(measure.name)
        if key in (*cols, *measure.paper_columns) or key.lower() == measure.name:
            return measure.name
    return None


def _check_studies(name: str, exp: Mapping, points) -> None:
    """Study features and ``fixed`` columns exist; ``fixed`` values match the grid.

    A feature or ``fixed`` column of a relatedness measure must be enabled in the
    experiment's ``measures``.
    """
    import re

    from mtllaws.regress import aliases, fixed_hit, resolve_column

    if not exp.get("studies"):
        return
    measures = enabled_measures(exp.get("measures"), key=f"experiments.{name}.measures")
    points = list({p.config_id: p for p in points}.values())  # one point per configuration
    columns = _summary_columns(points, measures)
    per_type = re.compile(r"^(dev|test)_(precision|recall|f1|n_gold)_[A-Za-z0-9]+_(mean|std)$")
    configs = pd.DataFrame(
        [
            {
                "n_tasks": p.n_tasks,
                "n_tokens_per_task": np.nan if p.n_tokens_per_task is None else p.n_tokens_per_task,
                "n_ner": p.n_ner,
                "n_syn": p.n_syn,
                "alpha": np.nan if p.alpha is None else p.alpha,
                TARGET_COLUMN: np.nan if p.ami is None else p.ami,
                "rotation": p.rotation,
                "alpha_pattern": pattern_label(p.alphas),
                "_alpha_unknown": p.ami is not None,
            }
            for p in points
        ]
    ).drop_duplicates()
    probe = pd.DataFrame(columns=sorted(columns))
    for i, study in enumerate(exp.get("studies") or []):
        where = f"experiments.{name}.studies[{i}] ({study.get('name')!r})"
        used = [*study.get("features", []), *(study.get("fixed") or {})]
        for key in [*used, *(study.get("measures") or [])]:  # measures: compare_features
            measure = _measure_of(str(key))
            if measure is not None and measure not in measures:
                raise ValueError(
                    f"{where}: {key!r} is the relatedness measure {measure!r}, which "
                    f"experiments.{name}.measures does not enable (enabled: "
                    f"{', '.join(measures)}); add {measure!r} to experiments.{name}.measures "
                    "or drop it from the study"
                )
        if study.get("kind") == "real_tasks":  # issue 20: the test of the laws on real tasks
            from mtllaws.realtest import check_study

            key = f"experiments.{name}.measures"
            check_study(dict(study), where, enabled=measures, measures_key=key, points=points)
        else:
            if study.get("engines"):
                raise ValueError(f"{where}: engines is for kind real_tasks; drop it (the "
                                 "regress rule runs every study with regress.engines)")
            _check_compared_measures(where, study, probe, columns)
        for key in used:
            if per_type.match(str(key)):
                continue
            try:
                resolve_column(probe, key)
            except ValueError:
                raise ValueError(
                    f"{where}: column {key!r} is not a column of the summary table; use one "
                    f"of {sorted(columns)} or an alias ({', '.join(aliases())})"
                ) from None
        mask = np.ones(len(configs), dtype=bool)
        chosen = []
        for key, value in (study.get("fixed") or {}).items():
            column = resolve_column(probe, key)
            if column not in configs.columns:
                continue  # a measured column: known only after the sweep
            values = configs[column].to_numpy(float)
            hit = fixed_hit(values, value, where, key)  # as regress selects the rows
            if column == "alpha":
                hit |= configs["_alpha_unknown"].to_numpy()  # α found by simulate
            if not (hit & mask).any():
                available = sorted(set(values[mask & np.isfinite(values)].tolist()))
                among = f" among the configurations with {', '.join(chosen)}" if chosen else ""
                raise ValueError(
                    f"{where}: fixed {column}={value!r} matches no configuration of the "
                    f"grid; values of {column}{among}: {available}; fix fixed or the grid"
                )
            mask &= hit
            chosen.append(f"{column}={value!r}")


def _check_compared_measures(where: str, study: Mapping, probe, columns) -> None:
    """A study's ``kind`` and ``measures``: compared measures are distinct summary columns."""
    from mtllaws.compare_features import check_kind
    from mtllaws.regress import aliases, resolve_column

    measures = check_kind(dict(study), where)["measures"]
    resolved = {}
    for measure in measures:
        try:
            column = resolve_column(probe, measure)
        except ValueError:
            raise ValueError(
                f"{where}: measures names {measure!r}, which is not a column of the summary "
                f"table; use a measure the experiment records (aliases: {', '.join(aliases())}) "
                f"or one of {sorted(columns)}"
            ) from None
        if column in resolved:
            raise ValueError(
                f"{where}: measures {resolved[column]!r} and {measure!r} are both the column "
                f"{column!r}; compare different measures"
            )
        resolved[column] = measure


#: Issue 18's keys and their allowed values (the schema's enums, for configs checked
#: without the schema).
_ALIGN_VALUES = {
    "model.align": ("none", "aux", "all"),
    "train.align_phase": ("joint", "frozen"),
    "train.task_weights": ("none", "svd"),
    "train.svd_level": ("input", "representation"),
}


def _check_align_and_weights(name: str, exp: Mapping) -> None:
    """Issue 18's model.align and train.{align_phase, align_epochs, task_weights, svd_*}."""
    model, train = exp.get("model") or {}, exp.get("train") or {}
    where = f"experiments.{name}"
    for key, allowed in _ALIGN_VALUES.items():
        block, field = key.split(".")
        value = (model if block == "model" else train).get(field, allowed[0])
        if value not in allowed:
            raise ValueError(
                f"{where}.{key}: {value!r} is not one of {list(allowed)}; use one of them "
                f"(default {allowed[0]})"
            )
    phase, extra = train.get("align_phase", "joint"), train.get("align_epochs", 0)
    if not isinstance(extra, int) or isinstance(extra, bool) or extra < 0:
        raise ValueError(f"{where}.train.align_epochs: {extra!r}; use an integer >= 0")
    if phase == "frozen" and extra < 1:
        raise ValueError(
            f"{where}.train.align_phase is frozen but train.align_epochs is {extra}: set "
            "align_epochs >= 1 (the extra epochs that train only R and the heads)"
        )
    if phase != "frozen" and extra:
        raise ValueError(
            f"{where}.train.align_epochs is {extra} but train.align_phase is {phase}: set "
            "align_phase: frozen, or align_epochs: 0"
        )
    if phase == "frozen" and train.get("early_stopping", False):
        raise ValueError(
            f"{where}.train.align_phase frozen cannot be combined with train.early_stopping: "
            "set early_stopping: false or align_phase: joint"
        )
    rank = train.get("svd_rank")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise ValueError(
            f"{where}.train.svd_rank: {rank!r}; use an integer >= 1, or null for c - 1"
        )
    every = train.get("svd_every", 0)
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ValueError(
            f"{where}.train.svd_every: {every!r}; use 0 (once, before training) or k >= 1 "
            "(every k epochs)"
        )
    svd = train.get("task_weights", "none") == "svd"
    if svd and train.get("schedule", "joint") == "sequential" and train.get("multi_model"):
        raise ValueError(
            f"{where}.train.task_weights svd under the sequential schedule sets each model's "
            "batch plan from its own weights, which train.multi_model cannot stack: set "
            "multi_model: false or schedule: joint"
        )
    if not svd and (rank is not None or every or train.get("svd_level", "input") != "input"):
        raise ValueError(
            f"{where}.train.svd_rank/svd_every/svd_level are set but train.task_weights is "
            f"{train.get('task_weights', 'none')}: set task_weights: svd or remove them"
        )


def check_config(config: Mapping, *, root: str | os.PathLike = ".") -> dict[str, dict]:
    """Check what the JSON schema cannot, and return the experiments.

    Everything that the config and the corpus's size decide is checked here, before
    any job: the grid expands (seeds given once, valid blocks and points table),
    every α is at least 1/c, every configuration fits the training split (T·n tokens
    for disjoint and contiguous slices, n for shared ones), and every study's
    features and ``fixed`` columns exist, its ``fixed`` values matching a
    configuration of the grid. The corpus facts come from :func:`corpus_facts`;
    when they are not known yet (a corpus still to download other than the pinned
    CoNLL-2003) the α and size checks wait for the simulate jobs.

    Parameters
    ----------
    config : mapping
        The workflow config after schema validation (defaults filled in).
    root : path-like
        The workflow's working directory (relative ``points_csv`` and corpus paths).

    Returns
    -------
    dict
        The experiments named in ``run``, by name. Experiments that are defined but
        not run are neither expanded nor checked against each other.

    Raises
    ------
    ValueError
        ``run`` names an unknown experiment, two experiments give one corpus name
        different settings, or one of the checks above fails. The message names
        the key and the fix.
    """
    experiments = dict(config.get("experiments") or {})
    unknown = [name for name in config.get("run", []) if name not in experiments]
    if unknown:
        raise ValueError(
            f"config key 'run' names experiment(s) {unknown} that are not defined under "
            f"'experiments' (defined: {sorted(experiments)}); fix 'run' or add them"
        )
    experiments = {name: experiments[name] for name in config.get("run", [])}
    by_name: dict[str, tuple[str, dict]] = {}
    for name, exp in experiments.items():
        corpus = exp["corpus"]
        seen = by_name.setdefault(corpus["name"], (name, corpus))
        if seen[1] != corpus:
            raise ValueError(
                f"experiments.{name}.corpus and experiments.{seen[0]}.corpus share the name "
                f"'{corpus['name']}' but differ; give one of them another corpus.name"
            )
    facts: dict[str, dict | None] = {}
    for name, exp in experiments.items():
        model_overrides(exp.get("model") or {}, where=f"experiments.{name}.model")
        enabled_measures(exp.get("measures"), key=f"experiments.{name}.measures")
        points = expand_experiment(name, exp, root=root)
        corpus = exp["corpus"]
        if corpus["name"] not in facts:
            facts[corpus["name"]] = corpus_facts(corpus, root=root)
        if facts[corpus["name"]] is None:
            logger.info(
                "experiments.%s: corpus '%s' is not on disk yet; alpha and size checks wait "
                "for the simulate jobs", name, corpus["name"]
            )
        else:
            _check_grid_fits(name, exp, points, facts[corpus["name"]])
        _check_studies(name, exp, points)
        _check_align_and_weights(name, exp)
    check_regress_config(config, experiments)
    return experiments


def check_regress_config(config: Mapping, experiments: Mapping) -> None:
    """Check the regression engines and every study's configuration count before any job.

    The engine names must be keys of :data:`mtllaws.regress.ENGINES`; each study
    of a run experiment must select enough configurations of the grid for an
    honest validation (:func:`mtllaws.validation.validation_plan`), and each
    extrapolation axis enough on both sides of its threshold.

    Raises
    ------
    ValueError
        Naming the config key, the study and the count.
    """
    from mtllaws.grid import expand_experiment
    from mtllaws.regress import DEFAULTS, ENGINES
    from mtllaws.validation import study_configuration_counts, validation_plan

    regress = config.get("regress") or {}
    unknown = [e for e in regress.get("engines", []) if e not in ENGINES]
    if unknown:
        raise ValueError(
            f"config key regress.engines names unknown engine(s) {unknown}; use {tuple(ENGINES)}"
        )
    for name, exp in experiments.items():
        if not exp.get("studies"):
            continue
        seen, rows = set(), []
        for point in expand_experiment(name, exp):
            if point.config_id not in seen:
                seen.add(point.config_id)
                rows.append(point.record())
        configs = pd.DataFrame(rows)
        for study in exp["studies"]:
            counted = study_configuration_counts(configs, study)
            if counted is None:
                continue
            n_configs, axes = counted
            try:
                validation_plan(
                    study["name"],
                    n_configs,
                    test_size=float(regress.get("test_size", DEFAULTS["test_size"])),
                    cv=int(regress.get("cv", DEFAULTS["cv"])),
                    extrapolate=axes,
                )
            except ValueError as err:
                raise ValueError(f"experiments.{name}.studies: {err}") from None
