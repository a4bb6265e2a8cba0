"""Expand an experiment's configuration into grid points.

An experiment (one entry of ``config["experiments"]``) names its grid as a list
of *blocks*. Each block is a Cartesian product of its axes; the experiment's
grid is the union of its blocks, plus the rows of an optional points table.
Seeds multiply every configuration.

Balanced blocks have the axes ``n_tasks``, ``n_tokens_per_task`` and one of
``alpha`` or ``ami`` (a target AMI, turned into an α by the simulate step).
Unbalanced blocks have ``n_tasks``, ``n_ner``, ``n_syn`` and ``alpha`` or
``ami``. A configuration with ``n_tasks == 1`` is the single-task baseline: it has
no synthetic task, so its α/AMI and ``n_syn`` are dropped and duplicates merge.

Every configuration has a *config id* that names it in file paths, e.g.
``T2_n1000_a0.9`` (balanced), ``T3_ner1000_syn4000_ami0.34`` (unbalanced) or
``T1_n1000`` (single task). The id of a grid point adds the seed: ``..._s0``.

A block (or a points table column) may add the axis ``rotation``: the angle in
degrees, in ``[0, 180]``, by which every synthetic task sees the embeddings rotated
(:func:`mtllaws.alignment.point_input_maps`; NER keeps them as they are). The default 0
rotates nothing; a non-zero angle adds ``_r<degrees>`` to the config id
(``T2_n1000_a0.9_r90``), so ids without rotation are unchanged. Single-task points have
no synthetic task and always have rotation 0.

A block may add the axis ``aux_tasks``: real auxiliary tasks read from corpus columns
(:mod:`mtllaws.realtasks`). Each of its levels is a task name (``pos``, ``chunk``,
``chunk_iob``), a 0-based column index of the CoNLL file, or a list of those. In a point
with ``T`` tasks and ``k`` real ones, tasks ``1..k`` are the real tasks (in the level's
order) and tasks ``k+1..T-1`` synthetic ones from the block's ``alpha``/``ami`` (not
needed when ``T - 1 == k``). Such a point's config id ends in ``_x<tasks>``
(``T2_n1000_xpos``, ``T3_n1000_xpos+chunk``, ``T2_n1000_xc3``), so ids without real
tasks are unchanged. Points tables do not take the axis.

A block may give per-task noise levels instead of one ``alpha``: the axis ``alphas`` is
a list of *patterns*, each a list of ``T - 1`` values, one per synthetic task, each a
number in ``(0, 1]`` or the string ``"noise"`` (``1/c``: labels drawn at random, AMI 0;
resolved by :func:`pattern_alphas` once ``c`` is known). A pattern takes the place of the
α in the config id (:func:`pattern_suffix`: ``T5_n1000_p0.99-0.99-0.99-noise``), so ids
without a pattern are unchanged; ``alpha`` is then None and ``alpha_pattern``
(:func:`pattern_label`) names the pattern in the result tables.

A *pack* is the set of grid points that one simulate, train and evaluate job
handles. By default every pack is one point. ``pack_seeds`` puts all seeds of a
configuration into one pack (id ``..._sall``) and ``pack_levels`` all its α or AMI
values (id ``T2_n1000_aall...``). Packs cut the number of jobs, which decides how
fast Snakemake builds the DAG of a large grid, and let one process train models of
the same architecture together.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from mtllaws.realtasks import aux_level, aux_level_suffix
from mtllaws.settings import OLD_KEEP_MARKERS

__all__ = [
    "GridPoint",
    "expand_experiment",
    "config_hash",
    "HASH_NEUTRAL",
    "format_number",
    "GRID_SETTINGS",
    "pack_id",
    "group_packs",
    "model_settings",
    "NOISE",
    "check_alpha_pattern",
    "pattern_label",
    "pattern_suffix",
    "pattern_alphas",
]

#: The value of an ``alphas`` pattern that stands for a pure-noise task (α = 1/c).
NOISE = "noise"

#: Experiment keys that do not change a model's result and so stay out of the hash.
_UNHASHED = {
    "grid",
    "points_csv",
    "seeds",
    "studies",
    "description",
    "regress",
    "pack_seeds",
    "pack_levels",
    # relatedness measures are recorded beside a model, they do not change it
    "measures",
    # the protocol's choices are filled into the other keys (mtllaws.protocol), which
    # the hash covers; the name itself decides nothing more
    "protocol",
}

#: Settings that :func:`config_hash` leaves out while they hold their *neutral* value:
#: ``"<section>.<key>"`` (or a top-level ``"<key>"``) -> the value that does what the
#: code did before the key existed. An option added with a neutral default is
#: registered here, so that every hash computed before it (and the results filed under
#: it) stays the same, while any other value of the option changes the hash. A schema
#: default that is not registered changes the default config's hash, which
#: ``tests/test_grid.py`` refuses, naming the key.
HASH_NEUTRAL = {
    # issue 18: per-task input alignment (model.align, Algorithm 1's frozen phase)
    "model.align": "none",
    "train.align_phase": "joint",
    "train.align_epochs": 0,
    # issue 18: SVD task reweighting (Algorithm 2) and its settings
    "train.task_weights": "none",
    "train.svd_rank": None,
    "train.svd_every": 0,
    "train.svd_level": "input",
}


def _is_neutral(path: str, value) -> bool:
    """Whether ``value`` of the setting ``path`` is its :data:`HASH_NEUTRAL` value."""
    if path not in HASH_NEUTRAL:
        return False
    neutral = HASH_NEUTRAL[path]
    return value is neutral or (type(value) is type(neutral) and value == neutral)


def _hashed_settings(settings: Mapping) -> dict:
    """``settings`` as :func:`config_hash` reads them: neutral keys out, old markers in."""
    hashed = {}
    for key, value in settings.items():
        if _is_neutral(key, value):
            continue
        if isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if not _is_neutral(f"{key}.{k}", v)}
            if key == "model":
                value = {
                    k: OLD_KEEP_MARKERS[k] if v is None and k in OLD_KEEP_MARKERS else v
                    for k, v in value.items()
                }
        hashed[key] = value
    return hashed


#: Keys that describe the grid itself, not the settings of each model.
GRID_SETTINGS = ("grid", "points_csv", "seeds")


def format_number(value: float) -> str:
    """Format a number for a config id: shortest round-tripping form, no exponent.

    Parameters
    ----------
    value : float
        The number.

    Returns
    -------
    str
        ``1000`` for 1000.0, ``0.9`` for 0.9, ``0.333`` for 0.333.
    """
    value = float(value)
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:
        text = f"{value:.12f}".rstrip("0")
    return text


@dataclass(frozen=True)
class GridPoint:
    """One trained model: a configuration of the grid and a seed.

    Attributes
    ----------
    experiment : str
        The experiment's name.
    mode : {"balanced", "unbalanced"}
        Whether NER and the synthetic tasks have the same number of tokens.
    n_tasks : int
        T, the number of tasks including NER; 1 is the single-task baseline.
    n_ner : int
        Training tokens labelled for NER.
    n_syn : int
        Training tokens labelled for each synthetic task (0 when ``n_tasks == 1``).
    alpha : float or None
        The diagonal of the transition matrix of every synthetic task.
    ami : float or None
        A target AMI, turned into α by the simulate step, instead of ``alpha``.
    seed : int
        The seed of slicing, simulation, initialisation and shuffling.
    rotation : float, default 0
        Input rotation of the synthetic tasks in degrees (0 for single-task points).
    aux_tasks : tuple, default ()
        Real auxiliary tasks (names or column indices, :func:`mtllaws.realtasks.aux_level`),
        tasks ``1..k`` of the point; empty for synthetic tasks only.
    alphas : tuple or None, default None
        A per-task pattern (grid axis ``alphas``): one α (float) or ``"noise"`` per
        synthetic task, instead of ``alpha``; None for points without one.
    """

    experiment: str
    mode: str
    n_tasks: int
    n_ner: int
    n_syn: int
    alpha: float | None
    ami: float | None
    seed: int
    rotation: float = 0.0
    aux_tasks: tuple = ()
    alphas: tuple | None = None

    @property
    def n_tokens_per_task(self) -> int | None:
        """n of a balanced experiment (tokens per task); None when unbalanced."""
        return self.n_ner if self.mode == "balanced" else None

    @property
    def config_id(self) -> str:
        """The configuration's name in file paths (no seed)."""
        if self.mode == "balanced":
            parts = [f"T{self.n_tasks}", f"n{self.n_ner}"]
        else:
            parts = [f"T{self.n_tasks}", f"ner{self.n_ner}"]
            if self.n_tasks > 1:
                parts.append(f"syn{self.n_syn}")
        if self.alpha is not None:
            parts.append(f"a{format_number(self.alpha)}")
        elif self.ami is not None:
            parts.append(f"ami{format_number(self.ami)}")
        elif self.alphas:
            parts.append(pattern_suffix(self.alphas))
        if self.rotation:
            parts.append(f"r{format_number(self.rotation)}")
        if self.aux_tasks:
            parts.append(aux_level_suffix(self.aux_tasks))
        return "_".join(parts)

    @property
    def point_id(self) -> str:
        """The grid point's name: config id and seed."""
        return f"{self.config_id}_s{self.seed}"

    def record(self) -> dict:
        """The grid values as a flat dict, as they appear in result tables.

        ``alphas`` is present only for a point with a pattern (a list).
        """
        out = asdict(self)
        if self.aux_tasks:  # a list (JSON); absent without real tasks, as before
            out["aux_tasks"] = list(self.aux_tasks)
        else:
            del out["aux_tasks"]
        out["n_tokens_per_task"] = self.n_tokens_per_task
        out["config_id"] = self.config_id
        out["point_id"] = self.point_id
        if self.alphas is None:
            # no pattern: the record (the sweep rules' params) stays as it was before the
            # axis existed, so Snakemake sees no changed params in finished experiments
            del out["alphas"]
        else:
            out["alphas"] = list(self.alphas)
        return out


def check_alpha_pattern(pattern, n_tasks: Iterable[int], where: str) -> tuple:
    """One ``alphas`` pattern as a tuple of floats and ``"noise"``, else ValueError.

    Parameters
    ----------
    pattern : list
        One value per synthetic task: a number in ``(0, 1]`` or ``"noise"``.
    n_tasks : iterable of int
        The block's ``n_tasks`` values; every one above 1 needs ``T - 1`` values.
    where : str
        The block, named in errors.

    Returns
    -------
    tuple
    """
    fix = ("give a list of T - 1 values, one per synthetic task, each a number in (0, 1] "
           f"or '{NOISE}', e.g. alphas: [[0.99, 0.99, 0.99, {NOISE}]] for n_tasks: [5]")
    if not isinstance(pattern, list | tuple) or not pattern:
        raise ValueError(f"{where}: 'alphas' pattern {pattern!r} is not a list; {fix}")
    values = []
    for value in pattern:
        if isinstance(value, str) and value.strip().lower() == NOISE:
            values.append(NOISE)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not 0.0 < number <= 1.0:
            raise ValueError(
                f"{where}: 'alphas' pattern {list(pattern)!r} holds {value!r}, which is not "
                f"a number in (0, 1] nor '{NOISE}'; {fix}"
            )
        values.append(number)
    wrong = sorted({t for t in n_tasks if t > 1 and t - 1 != len(values)})
    if wrong:
        raise ValueError(
            f"{where}: 'alphas' pattern {list(pattern)!r} has {len(values)} value(s) but "
            f"n_tasks {wrong} needs T - 1 = {wrong[0] - 1}; {fix} (split the block by T)"
        )
    return tuple(values)


def pattern_label(pattern) -> str:
    """A pattern as text: its values joined by ``-`` (``"0.99-0.99-noise"``); ``""`` for None.

    Numbers are written by :func:`format_number`, so the label is safe in file names.
    """
    if not pattern:
        return ""
    return "-".join(NOISE if v == NOISE else format_number(v) for v in pattern)


def pattern_suffix(pattern) -> str:
    """The config-id part of a pattern: ``p`` and its label (``p0.99-0.99-noise``)."""
    return f"p{pattern_label(pattern)}"


def pattern_alphas(pattern, n_classes: int) -> list[float]:
    """The α of every synthetic task of a pattern, ``"noise"`` resolved to ``1/c``."""
    return [1.0 / n_classes if v == NOISE else float(v) for v in pattern]


def _as_list(block: Mapping, key: str, where: str) -> list:
    value = block[key]
    values = list(value) if isinstance(value, list | tuple) else [value]
    if not values:
        raise ValueError(f"{where}: '{key}' is an empty list; give at least one value")
    return values


def _check_int(value, key: str, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < minimum:
        raise ValueError(f"{where}: '{key}' = {value!r} must be an integer >= {minimum}")
    return int(value)


def _check_level(value, key: str, where: str) -> float:
    value = float(value)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{where}: '{key}' = {value!r} must lie in (0, 1]")
    return value


def _block_configs(block: Mapping, mode: str, where: str) -> Iterable[tuple]:
    """Yield (n_tasks, n_ner, n_syn, alpha, ami, rotation, aux_tasks) for one product block.

    An axis whose value is None (the schema's default) counts as absent.
    """
    block = {k: v for k, v in block.items() if v is not None}
    if "alpha" in block and "ami" in block:
        raise ValueError(f"{where}: give either 'alpha' or 'ami', not both")
    if mode == "balanced":
        size_keys = ("n_tokens_per_task",)
        wrong = [k for k in ("n_ner", "n_syn") if k in block]
    else:
        size_keys = ("n_ner", "n_syn")
        wrong = [k for k in ("n_tokens_per_task",) if k in block]
    if wrong:
        raise ValueError(
            f"{where}: key(s) {wrong} do not belong to a {mode} experiment; "
            f"use {list(size_keys)} instead"
        )
    if "n_tasks" not in block:
        raise ValueError(f"{where}: missing grid axis ['n_tasks']")
    tasks = [_check_int(t, "n_tasks", where, 1) for t in _as_list(block, "n_tasks", where)]
    if mode == "unbalanced" and "n_syn" not in block and all(t == 1 for t in tasks):
        block = {**block, "n_syn": [0]}  # single-task blocks have no synthetic task
    missing = [k for k in size_keys if k not in block]
    if missing:
        raise ValueError(f"{where}: missing grid axis {missing}")
    stl_only = all(t == 1 for t in tasks)
    sizes = [
        [
            _check_int(v, k, where, 0 if (k == "n_syn" and stl_only) else 1)
            for v in _as_list(block, k, where)
        ]
        for k in size_keys
    ]
    reals = [()]
    if "aux_tasks" in block:
        reals = [aux_level(v, f"{where}: 'aux_tasks'")
                 for v in _as_list(block, "aux_tasks", where)]
        short = sorted({(t, len(r)) for t in tasks for r in reals if t - 1 < len(r)})
        if short:
            t, k = short[0]
            raise ValueError(
                f"{where}: n_tasks = {t} has {t - 1} auxiliary task(s) but an aux_tasks level "
                f"names {k} real task(s); give n_tasks >= 1 + the real tasks of every level "
                "(n_tasks: [1] takes no aux_tasks: put the single-task baseline in its own "
                "block)"
            )
    level_key = "alpha" if "alpha" in block else "ami" if "ami" in block else None
    levels = (
        [_check_level(v, level_key, where) for v in _as_list(block, level_key, where)]
        if level_key
        else [None]
    )
    if level_key is None and any(t - 1 > len(r) for t in tasks for r in reals):
        raise ValueError(
            f"{where}: n_tasks > 1 needs the synthetic tasks' 'alpha' or 'ami' list "
            "(or 'alphas' patterns)"
            + (" (n_tasks - 1 exceeds the real aux_tasks of a level, so some tasks are "
               "synthetic)" if "aux_tasks" in block else "")
        )
    rotations = [0.0]
    if "rotation" in block:
        from mtllaws.alignment import check_rotation

        rotations = [check_rotation(v, f"{where}: 'rotation'")
                     for v in _as_list(block, "rotation", where)]
    for t, *size, level, rotation, real in itertools.product(
            tasks, *sizes, levels, rotations, reals):
        n_ner = size[0]
        n_syn = size[0] if mode == "balanced" else size[1]
        if t == 1:
            yield (1, n_ner, 0 if mode == "unbalanced" else n_ner, None, None, 0.0, ())
        elif t - 1 == len(real):  # every auxiliary task is real: no alpha/AMI, no rotation
            yield (t, n_ner, n_syn, None, None, 0.0, real)
        elif level_key == "alpha":
            yield (t, n_ner, n_syn, level, None, rotation, real)
        else:
            yield (t, n_ner, n_syn, None, level, rotation, real)


def _configs(block: Mapping, mode: str, where: str) -> Iterable[tuple]:
    """Yield (n_tasks, n_ner, n_syn, alpha, ami, rotation, aux_tasks, alphas) for one block.

    A block with ``alphas`` (per-task patterns) expands like a block with one α per
    pattern; its configurations then carry the pattern instead of the α.
    """
    patterns = block.get("alphas")
    if patterns is None:
        for config in _block_configs(block, mode, where):
            yield (*config, None)
        return
    given = [k for k in ("alpha", "ami", "aux_tasks") if block.get(k) is not None]
    if given:
        raise ValueError(
            f"{where}: give either {given[0]!r} or 'alphas' (per-task patterns), not both; "
            f"drop {given[0]!r} or put the patterns in a block of their own"
        )
    if not isinstance(patterns, list | tuple) or not patterns:
        raise ValueError(
            f"{where}: 'alphas' must be a non-empty list of patterns (lists of T - 1 "
            f"values), e.g. alphas: [[0.99, 0.99, 0.99, {NOISE}]]"
        )
    tasks = [_check_int(t, "n_tasks", where, 1) for t in _as_list(block, "n_tasks", where)]
    checked = [check_alpha_pattern(p, tasks, where) for p in patterns]
    plain = {k: v for k, v in block.items() if k != "alphas"}
    for pattern in checked:
        for t, n_ner, n_syn, _, _, rotation, real in _block_configs(
                {**plain, "alpha": [1.0]}, mode, where):
            yield (t, n_ner, n_syn, None, None, rotation, real, pattern if t > 1 else None)


def _points_table(path: str | Path, mode: str, where: str) -> list[dict]:
    """Read the blocks of a points table: one block per row.

    The rules are those of grid blocks: a row has ``n_tasks`` and the size columns
    of its mode, and rows with ``n_tasks > 1`` need ``alpha`` or ``ami`` (a table
    of single-task rows needs neither); a table with both columns is refused.
    Every error names the file (and the line and column of a bad cell).
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{where}: points_csv '{path}' does not exist; fix the path")
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{where}: points_csv '{path}' is empty; give a header line and one row per "
            "configuration, or set points_csv: ''"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where}: points_csv '{path}' is not a readable CSV ({exc})") from None
    keys = ["n_tasks", "n_tokens_per_task"] if mode == "balanced" else ["n_tasks", "n_ner", "n_syn"]
    if "alpha" in table.columns and "ami" in table.columns:
        raise ValueError(
            f"{where}: points_csv '{path}' has both an 'alpha' and an 'ami' column; "
            "give one of them, as in a grid block (split the table in two experiments)"
        )
    level = "alpha" if "alpha" in table.columns else "ami" if "ami" in table.columns else None
    if mode == "unbalanced" and "n_syn" not in table.columns and "n_tasks" in table.columns:
        keys = ["n_tasks", "n_ner"]  # single-task rows have no synthetic task
    missing = [k for k in keys if k not in table.columns]
    if missing:
        raise ValueError(
            f"{where}: points_csv '{path}' lacks column(s) {missing}; it needs {keys} "
            "and, for rows with n_tasks > 1, alpha or ami"
        )
    if table.empty:
        raise ValueError(
            f"{where}: points_csv '{path}' has a header but no rows; add configurations "
            "or set points_csv: ''"
        )
    if "aux_tasks" in table.columns:
        raise ValueError(
            f"{where}: points_csv '{path}' has an 'aux_tasks' column; real auxiliary tasks "
            "are a grid-block axis only: move those rows into grid blocks with aux_tasks"
        )
    columns = [*keys, level] if level else keys
    if "rotation" in table.columns:
        columns.append("rotation")
    blocks = []
    for i, values in enumerate(table[columns].itertuples(index=False), start=2):
        block = {}
        for column, value in zip(columns, values, strict=True):
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            if number != number:  # NaN: empty or text cell
                if column in (level, "rotation") and not isinstance(value, str):  # empty
                    block[column] = None
                    continue
                raise ValueError(
                    f"{where}: points_csv '{path}' line {i}, column '{column}': "
                    f"{value!r} is not a number; fix the cell"
                )
            block[column] = number
        if level and block[level] is None:
            del block[level]
        if block.get("rotation", 0) is None:
            del block["rotation"]
        if block.get("n_tasks") == 1:
            block.pop(level, None)
        elif level is None or level not in block:
            raise ValueError(
                f"{where}: points_csv '{path}' line {i}: n_tasks = {values[0]} needs the "
                "synthetic tasks' alpha or ami; add the column or the cell"
            )
        blocks.append((f"{where}: points_csv '{path}' line {i}", block))
    return blocks


def expand_experiment(
    name: str, experiment: Mapping, *, root: str | Path | None = None
) -> list[GridPoint]:
    """List the grid points of one experiment, in a stable order.

    Parameters
    ----------
    name : str
        The experiment's name (a key of ``config["experiments"]``).
    experiment : mapping
        Its validated configuration: ``mode``, ``grid`` (list of blocks),
        ``points_csv`` and ``seeds``.
    root : path-like, optional
        The folder a relative ``points_csv`` is read from (the workflow's working
        directory); the current directory when None.

    Returns
    -------
    list of GridPoint
        Unique points, ordered by configuration then seed.

    Raises
    ------
    ValueError
        A block misses an axis, has an axis of the other mode, or a value out of range;
        a seed is given twice.
    """
    mode = experiment.get("mode", "balanced")
    if mode not in ("balanced", "unbalanced"):
        raise ValueError(f"experiments.{name}.mode = {mode!r}: use 'balanced' or 'unbalanced'")
    blocks = [
        (f"experiments.{name}.grid[{i}]", block)
        for i, block in enumerate(experiment.get("grid") or [])
    ]
    if experiment.get("points_csv"):
        table = Path(experiment["points_csv"])
        if root is not None and not table.is_absolute():
            table = Path(root) / table
        blocks += _points_table(table, mode, f"experiments.{name}")
    if not blocks:
        raise ValueError(
            f"experiments.{name}: the grid is empty; give 'grid' blocks or a 'points_csv'"
        )
    seeds = [
        _check_int(s, "seeds", f"experiments.{name}", 0)
        for s in _as_list(experiment, "seeds", f"experiments.{name}")
    ]
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(
            f"experiments.{name}.seeds lists seed(s) {repeated} more than once; every seed "
            "trains each configuration once, so give each seed once"
        )
    configs: dict[tuple, None] = {}
    for where, block in blocks:
        for config in _configs(block, mode, where):
            configs.setdefault(config, None)
    points = [
        GridPoint(name, mode, t, n_ner, n_syn, alpha, ami, seed, rotation,
                  aux_tasks=aux, alphas=alphas)
        for (t, n_ner, n_syn, alpha, ami, rotation, aux, alphas) in configs
        for seed in seeds
    ]
    return points


def model_settings(experiment: Mapping) -> dict:
    """The experiment's settings that decide a model's result (no grid, seeds or studies).

    The sweep rules take these as params, so that editing a study or the grid does
    not make Snakemake retrain models whose settings did not change.
    """
    return {k: v for k, v in experiment.items() if k not in _UNHASHED}


def config_hash(experiment: Mapping) -> str:
    """A short hash of the settings that decide a model's result.

    Grid axes, seeds and study settings are left out, so every model of an
    experiment shares the hash and a change of, e.g., epochs changes it. Settings at
    their :data:`HASH_NEUTRAL` value are left out too, so adding an option with a
    neutral default keeps every existing hash.

    Parameters
    ----------
    experiment : mapping
        The experiment's validated configuration.

    Returns
    -------
    str
        The first 12 hex digits of a SHA-256 over canonical JSON.
    """
    settings = _hashed_settings(model_settings(experiment))
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def pack_id(point: GridPoint, *, seeds: bool = False, levels: bool = False) -> str:
    """The id of the pack that holds ``point``.

    Parameters
    ----------
    point : GridPoint
        A grid point.
    seeds : bool
        Pack all seeds of a configuration together (``_sall``).
    levels : bool
        Pack all α (``aall``), target-AMI (``amiall``) or ``alphas`` pattern (``pall``)
        values together. Single-task points have no level and keep their config id.

    Returns
    -------
    str
    """
    parts = point.config_id.split("_")
    if levels and (point.alpha is not None or point.ami is not None or point.alphas):
        # the level is the last part, or the one before the rotation's / real tasks'
        at = -1 - bool(point.rotation) - bool(point.aux_tasks)
        parts[at] = ("aall" if point.alpha is not None
                     else "pall" if point.alphas else "amiall")
    parts.append("sall" if seeds else f"s{point.seed}")
    return "_".join(parts)


def group_packs(
    points: Iterable[GridPoint], *, seeds: bool = False, levels: bool = False
) -> dict[str, list[GridPoint]]:
    """Group grid points into packs, keeping the points' order within each pack.

    Parameters
    ----------
    points : iterable of GridPoint
        The grid, e.g. from :func:`expand_experiment`.
    seeds, levels : bool
        See :func:`pack_id`.

    Returns
    -------
    dict of str to list of GridPoint
    """
    packs: dict[str, list[GridPoint]] = {}
    for point in points:
        packs.setdefault(pack_id(point, seeds=seeds, levels=levels), []).append(point)
    return packs
