"""Real auxiliary tasks: label columns of the corpus (POS, chunking) on a task's slice.

A grid point's tasks (:func:`mtllaws.simulate.make_tasks`) are slices of the training
tokens: ``token_idx (M,)`` indexes the training split, and task ``k`` labels the rows
``r`` of its column where ``labels[r, k] != MASK``. A *real* auxiliary task labels its
slice with another tag column of the same tokens (cached by
:func:`mtllaws.corpus.prepare_corpus` with ``aux_columns=``, read with
:meth:`~mtllaws.corpus.PreparedCorpus.aux_labels`) instead of a synthetic draw. These
helpers are pure (arrays in, arrays out): the slicing rules (disjoint, shared,
contiguous) stay those of ``make_tasks``, and only the labels of a slice change.

* :func:`task_labels`: a slice's labels from a column, ``column_ids[slice_tokens]``.
* :func:`label_column`: one task column ``(M,)`` of the label matrix, ``MASK`` outside
  the task's rows.
* :func:`replace_task_columns`: a label matrix with chosen auxiliary columns relabelled
  from corpus columns on the rows each already labels.
* :func:`aux_level`, :func:`aux_task_name`, :func:`aux_level_label`,
  :func:`aux_level_suffix`, :func:`corpus_aux_columns`: a grid level of the
  ``aux_tasks`` axis (one real task or several), its runs-table spelling
  (``"pos+chunk"``), its config-id suffix (``_xpos+chunk``) and the corpus columns an
  experiment's grid needs cached.
* :func:`class_counts`: the per-task head sizes for
  :class:`~mtllaws.models.ModelConfig` (``n_classes``) of a mix of NER, synthetic and
  real tasks.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = [
    "MASK",
    "aux_level",
    "aux_level_label",
    "aux_level_suffix",
    "aux_task_name",
    "class_counts",
    "AUX_CORPUS_SUFFIX",
    "corpus_aux_columns",
    "experiment_aux_levels",
    "prepared_corpus_name",
    "aux_corpus_settings",
    "check_aux_columns",
    "label_column",
    "replace_task_columns",
    "task_labels",
]

#: Label of a token that a task does not label.
MASK = -1


def _where(name: str, point: str | None) -> str:
    what = f"real task {name!r}" if name else "real task"
    return f"grid point {point}: {what}" if point else what


def _int_array(a, what: str, where: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise ValueError(f"{where}: {what} must be a 1-d integer array, got {a.dtype} {a.shape}")
    return a


def task_labels(slice_tokens, column_ids, *, name: str = "",
                point: str | None = None) -> np.ndarray:
    """Labels of a real auxiliary task on its slice: ``column_ids[slice_tokens]``.

    Parameters
    ----------
    slice_tokens : (M_t,) int array
        Indices into the training split of the tokens the task labels (e.g.
        ``token_idx[rows]`` of :class:`~mtllaws.simulate.TaskData`).
    column_ids : (N,) int array
        The column's label ids for every training token
        (``PreparedCorpus.aux_labels(name, "train")``).
    name : str
        The task's name (``"pos"``), for error messages.
    point : str, optional
        The grid point, for error messages.

    Returns
    -------
    (M_t,) int64

    Raises
    ------
    ValueError
        Naming the task (and point): not integer arrays, an index outside the training
        split, or a token without a label (``MASK``) in the column.
    """
    where = _where(name, point)
    idx = _int_array(slice_tokens, "slice_tokens", where)
    ids = _int_array(column_ids, "column_ids", where)
    if idx.size and (idx.min() < 0 or idx.max() >= ids.size):
        raise ValueError(
            f"{where}: token indices in [{idx.min()}, {idx.max()}] but the column has "
            f"{ids.size} training tokens; pass the training split's column "
            "(PreparedCorpus.aux_labels(name, 'train'))"
        )
    out = ids[idx].astype(np.int64)
    if out.size and out.min() < 0:
        raise ValueError(
            f"{where}: {int((out < 0).sum())} of its tokens have no label (MASK) in the "
            "column; real tasks label training tokens, whose column has no MASK: pass the "
            "'train' column"
        )
    return out


def label_column(token_idx, rows, column_ids, *, name: str = "",
                 point: str | None = None) -> np.ndarray:
    """One task column of a label matrix from a corpus column.

    Parameters
    ----------
    token_idx : (M,) int array
        Training-token index of every row of the label matrix
        (:attr:`~mtllaws.simulate.TaskData.token_idx`).
    rows : (M,) bool array or int array
        The rows the task labels (a mask, or their positions).
    column_ids : (N,) int array
        The column's ids for every training token.
    name, point : str
        For error messages.

    Returns
    -------
    (M,) int64
        ``column_ids[token_idx[r]]`` at the task's rows ``r``, ``MASK`` elsewhere.
    """
    where = _where(name, point)
    token_idx = _int_array(token_idx, "token_idx", where)
    rows = np.asarray(rows)
    if rows.dtype == bool:
        if rows.shape != token_idx.shape:
            raise ValueError(
                f"{where}: rows mask has shape {rows.shape} but token_idx has "
                f"{token_idx.shape}; pass one flag per row"
            )
        rows = np.flatnonzero(rows)
    rows = _int_array(rows, "rows", where)
    if rows.size and (rows.min() < 0 or rows.max() >= token_idx.size):
        raise ValueError(
            f"{where}: rows in [{rows.min()}, {rows.max()}] but the label matrix has "
            f"{token_idx.size} rows"
        )
    out = np.full(token_idx.size, MASK, dtype=np.int64)
    out[rows] = task_labels(token_idx[rows], column_ids, name=name, point=point)
    return out


def replace_task_columns(labels, token_idx, columns: Mapping[int, np.ndarray], *,
                         names: Mapping[int, str] | None = None,
                         point: str | None = None) -> np.ndarray:
    """A label matrix with auxiliary task columns relabelled from corpus columns.

    Task ``k`` keeps its rows (the rows where ``labels[:, k] != MASK``, so the slicing
    of :func:`~mtllaws.simulate.make_tasks` is unchanged); their labels become
    ``columns[k][token_idx[rows]]``.

    Parameters
    ----------
    labels : (M, T) int array
        Label matrix, column 0 = NER.
    token_idx : (M,) int array
        Training-token index of every row.
    columns : mapping of int to (N,) int array
        Task index ``k >= 1`` -> the corpus column's ids for every training token.
    names : mapping of int to str, optional
        Task index -> name, for error messages.
    point : str, optional
        The grid point, for error messages.

    Returns
    -------
    (M, T) int64
        A new array; ``labels`` is not modified.
    """
    names = dict(names or {})
    labels = np.asarray(labels)
    token_idx = np.asarray(token_idx)
    if labels.ndim != 2 or labels.dtype.kind not in "iu" or labels.shape[0] != token_idx.shape[0]:
        raise ValueError(
            f"{_where('', point)}: labels must be an integer (M, T) array with one row per "
            f"token_idx entry, got {labels.dtype} {labels.shape} and {token_idx.shape}"
        )
    out = labels.astype(np.int64, copy=True)
    for k, ids in columns.items():
        where = _where(names.get(k, ""), point)
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not (
                1 <= k < labels.shape[1]):
            raise ValueError(
                f"{where}: task index {k!r} must be an auxiliary task 1..{labels.shape[1] - 1} "
                "(column 0 is NER, which keeps its labels)"
            )
        rows = labels[:, k] != MASK
        if not rows.any():
            raise ValueError(f"{where}: task {k} labels no row; it needs a slice")
        out[:, k] = label_column(token_idx, rows, ids, name=names.get(k, ""), point=point)
    return out


def class_counts(n_tasks: int, n_ner: int, real: Mapping[int, int] | None = None
                 ) -> int | tuple[int, ...]:
    """Head sizes of a model whose tasks mix NER, synthetic and real auxiliary tasks.

    Parameters
    ----------
    n_tasks : int
        ``T``, NER included.
    n_ner : int
        NER's classes ``c``; synthetic tasks share it (Algorithm 1 relabels within NER's
        label set).
    real : mapping of int to int, optional
        Task index ``k >= 1`` of a real task -> its number of labels
        (``len(PreparedCorpus.aux_label_names(name))``).

    Returns
    -------
    int or tuple of int
        ``n_ner`` when every head has that size (the model of synthetic tasks only, as
        before), else one size per task for :class:`~mtllaws.models.ModelConfig`.
    """
    sizes = [int(n_ner)] * int(n_tasks)
    for k, c in (real or {}).items():
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k < n_tasks:
            raise ValueError(
                f"class_counts: task index {k!r} must be an auxiliary task 1..{n_tasks - 1}"
            )
        sizes[k] = int(c)
    return int(n_ner) if len(set(sizes)) == 1 else tuple(sizes)


# --------------------------------------------------------------------------- grid levels


def aux_task_name(task) -> str:
    """The name of one real task of an ``aux_tasks`` level.

    Parameters
    ----------
    task : str or int
        A preset name of :data:`mtllaws.corpus.AUX_PRESETS` (``"pos"``, ``"chunk"``,
        ``"chunk_iob"``) or a 0-based column index of the CoNLL file (``3``).

    Returns
    -------
    str
        The preset name, or ``"c<index>"`` for a column index (the name its labels are
        cached under, :meth:`~mtllaws.corpus.PreparedCorpus.aux_labels`).
    """
    if isinstance(task, bool):
        raise ValueError(f"aux task {task!r}: give a task name or a column index")
    if isinstance(task, int | np.integer):
        return f"c{int(task)}"
    return str(task)


def aux_level(value, where: str = "aux_tasks") -> tuple:
    """One level of the ``aux_tasks`` grid axis, checked: a tuple of real tasks.

    Parameters
    ----------
    value : str, int or list of those
        A task name (``"pos"``), a 0-based column index (``3``, for other CoNLL files)
        or a list of those (several real tasks in one grid point, in task order).
    where : str
        What to name in errors (the grid block).

    Returns
    -------
    tuple of str or int
        The level's tasks, in order (names as given, indices as ``int``).

    Raises
    ------
    ValueError
        An unknown name, a negative or non-integer index, a task given twice, or an
        empty list; naming ``where`` and the fix.
    """
    from mtllaws.corpus import AUX_PRESETS

    items = list(value) if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValueError(f"{where}: an empty aux_tasks level; give a task name, a column "
                         "index, or a list of them")
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | np.integer):
            raise ValueError(f"{where}: aux task {item!r} is neither a task name "
                             f"({', '.join(AUX_PRESETS)}) nor a column index")
        if isinstance(item, str) and item not in AUX_PRESETS:
            raise ValueError(f"{where}: unknown aux task {item!r}; use one of "
                             f"{', '.join(AUX_PRESETS)} or a 0-based column index (int) of "
                             "the CoNLL file")
        if not isinstance(item, str) and int(item) < 1:
            raise ValueError(f"{where}: aux task column {item!r} must be >= 1 (0 is the word)")
        out.append(item if isinstance(item, str) else int(item))
    names = [aux_task_name(t) for t in out]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: aux_tasks level {items!r} names a task twice; give each "
                         "real task once per level")
    return tuple(out)


def aux_level_label(level) -> str:
    """The runs-table spelling of a level: names joined by ``+`` (``""`` for none)."""
    return "+".join(aux_task_name(t) for t in level or ())


def aux_level_suffix(level) -> str:
    """The config-id suffix of a level: ``"xpos"``, ``"xpos+chunk"``, ``"xc3"`` (``""``
    for none).

    Underscores of a name are dropped (``chunk_iob`` -> ``xchunkiob``) so that ``_``
    stays the config id's separator; the names are presets or ``c<index>``, so the
    spelling is unambiguous.
    """
    if not level:
        return ""
    return "x" + "+".join(aux_task_name(t).replace("_", "") for t in level)


def corpus_aux_columns(levels) -> dict:
    """The ``aux_columns`` argument of :func:`mtllaws.corpus.prepare_corpus` for levels.

    Parameters
    ----------
    levels : iterable of tuple
        The ``aux_tasks`` levels of the grid points (:func:`aux_level`).

    Returns
    -------
    dict of str to int or AuxColumn
        Name -> preset spec or column index, sorted by name; empty when no level names
        a real task.
    """
    from mtllaws.corpus import AUX_PRESETS

    out = {}
    for level in levels:
        for task in level or ():
            name = aux_task_name(task)
            out[name] = list(AUX_PRESETS[name]) if isinstance(task, str) else int(task)
    return dict(sorted(out.items()))


#: Suffix of the corpus cache of experiments that name real tasks: ``conll2003_cross.aux``
#: holds the same arrays as ``conll2003_cross`` plus the auxiliary columns, so the cache
#: (and everything built on it) of experiments without real tasks is never rebuilt.
AUX_CORPUS_SUFFIX = ".aux"


def experiment_aux_levels(experiment: Mapping, name: str = "") -> list[tuple]:
    """The ``aux_tasks`` levels of an experiment's grid blocks (checked), in order."""
    levels = []
    for i, block in enumerate(experiment.get("grid") or []):
        values = (block or {}).get("aux_tasks")
        if values is None:
            continue
        for value in values if isinstance(values, list | tuple) else [values]:
            levels.append(aux_level(value, f"experiments.{name}.grid[{i}]: 'aux_tasks'"))
    return levels


def prepared_corpus_name(experiment: Mapping) -> str:
    """The corpus cache name of an experiment: ``corpus.name``, plus
    :data:`AUX_CORPUS_SUFFIX` when its grid names real auxiliary tasks."""
    base = experiment["corpus"]["name"]
    return base + AUX_CORPUS_SUFFIX if experiment_aux_levels(experiment) else base


def aux_corpus_settings(experiments: Mapping, cache_name: str) -> dict:
    """The ``prepare_corpus`` settings of a corpus cache name.

    Parameters
    ----------
    experiments : mapping
        The validated experiments.
    cache_name : str
        ``corpus.name``, or it plus :data:`AUX_CORPUS_SUFFIX`.

    Returns
    -------
    dict
        The corpus settings of the experiments on that corpus; for an ``.aux`` cache
        with ``aux_columns``: every real task that those experiments' grids name.
    """
    from mtllaws.settings import corpus_settings

    base = cache_name.removesuffix(AUX_CORPUS_SUFFIX)
    settings = corpus_settings(experiments, base)
    if cache_name != base:
        settings["aux_columns"] = corpus_aux_columns(
            level for n, e in experiments.items() if e["corpus"]["name"] == base
            for level in experiment_aux_levels(e, n))
    return settings


def check_aux_columns(name: str, experiment: Mapping, train_file) -> None:
    """Refuse, before any job, a column index beyond the corpus file's columns.

    Parameters
    ----------
    name : str
        The experiment.
    experiment : mapping
        Its validated settings.
    train_file : path-like
        The corpus's training file (its first token line decides the column count).

    Raises
    ------
    ValueError
        Naming the experiment, the block's level, the file and the fix.
    """
    from pathlib import Path

    indices = sorted({t for level in experiment_aux_levels(experiment, name)
                      for t in level if not isinstance(t, str)})
    if not indices or not Path(train_file).is_file():  # not downloaded yet: the job checks
        return
    with Path(train_file).open(encoding="utf-8") as lines:
        for line in lines:
            parts = line.split()
            if parts and not parts[0].startswith("-DOCSTART-"):
                break
        else:
            return  # an empty file: the corpus checks report it
    if indices[-1] >= len(parts):
        raise ValueError(
            f"experiments.{name}.grid: aux_tasks column {indices[-1]} is beyond the "
            f"{len(parts)} columns (0-based, 0 = the word) of {train_file}; give a column "
            f"index in 1..{len(parts) - 1} or a task name"
        )
