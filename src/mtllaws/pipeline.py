"""The workflow's stages as plain functions.

Each Snakemake rule's script reads the ``snakemake`` object and calls one
function here; nothing in ``workflow/`` re-implements logic. The functions take
paths and plain settings dicts (the validated config), so they can be called
and tested without Snakemake. The config checks live in
:mod:`mtllaws.config_check`, the settings lookups in :mod:`mtllaws.settings`, the
downloads in :mod:`mtllaws.download` and the log setup in :mod:`mtllaws.logs`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtllaws import __version__
from mtllaws import shards as mtl_shards
from mtllaws.atomic import atomic_path
from mtllaws.grid import config_hash
from mtllaws.realtasks import aux_level_label, aux_task_name
from mtllaws.relatedness import MEASURES, TARGET_COLUMN, run_values
from mtllaws.settings import embedding_download_path, fasttext_options, model_overrides

__all__ = [
    "aggregate",
    "experiment_measures",
    "simulate_measures",
    "prepare_corpus_stage",
    "prepare_embeddings_stage",
    "build_model_config",
    "build_train_config",
    "pack_class_counts",
    "simulate_pack",
    "read_tasks",
    "Pack",
    "train_pack",
    "evaluate_pack",
    "collect_study_results",
]

logger = logging.getLogger(__name__)


def aggregate(
    shards: Sequence[str | os.PathLike],
    *,
    runs: str | os.PathLike,
    summary: str | os.PathLike,
    runs_csv: str | os.PathLike,
    summary_csv: str | os.PathLike,
) -> None:
    """Collect evaluate shards into the runs and summary tables (Parquet and CSV)."""
    start = time.perf_counter()
    table = mtl_shards.collect_runs(shards)
    stats = mtl_shards.summarize(table)
    mtl_shards.write_parquet(table, runs)
    mtl_shards.write_parquet(stats, summary)
    mtl_shards.write_csv(table, runs_csv)
    mtl_shards.write_csv(stats, summary_csv)
    logger.info(
        "aggregated %d shards into %d configurations in %.2f s",
        len(table),
        len(stats),
        time.perf_counter() - start,
    )


# --------------------------------------------------------------------------- data stages


def prepare_corpus_stage(
    sources: Mapping[str, str | os.PathLike], out_dir: str | os.PathLike, settings: Mapping
) -> None:
    """Parse the corpus files and cache their arrays in ``out_dir``.

    Parameters
    ----------
    sources : mapping
        Paths of ``train``, ``valid`` and ``test`` (one folder).
    out_dir : path-like
        The cache folder (a rule's ``directory()`` output).
    settings : mapping
        The experiment's ``corpus`` settings (``window``, ``cross_sentence``, and
        ``aux_columns`` when an experiment on this corpus names real auxiliary tasks:
        the ``aux_columns`` of :func:`mtllaws.corpus.prepare_corpus`).
    """
    from mtllaws.corpus import prepare_corpus

    folders = {Path(p).resolve().parent for p in sources.values()}
    if len(folders) != 1:
        raise ValueError(f"the corpus files {dict(sources)} must lie in one folder")
    start = time.perf_counter()
    prepared = prepare_corpus(
        folders.pop(), out_dir, k=settings["window"], cross_sentence=settings["cross_sentence"],
        **({"aux_columns": settings["aux_columns"]} if settings.get("aux_columns") else {}),
    )
    logger.info(
        "cached %d/%d/%d train/dev/test tokens, %d words, labels %s in %.1f s",
        len(prepared.train_y),
        len(prepared.dev_y),
        len(prepared.test_y),
        len(prepared.vocab),
        prepared.labels,
        time.perf_counter() - start,
    )


def prepare_embeddings_stage(
    corpus_dir: str | os.PathLike, out: str | os.PathLike, settings: Mapping
) -> None:
    """Build the embedding matrix of a prepared corpus (trained fastText or a file)."""
    from mtllaws.corpus import load_prepared
    from mtllaws.embeddings import prepare_embeddings

    start = time.perf_counter()
    pretrained = settings.get("pretrained") or embedding_download_path(settings) or None
    from_url = bool(pretrained) and not settings.get("pretrained")
    matrix = prepare_embeddings(
        load_prepared(corpus_dir),
        out,
        pretrained=pretrained,
        # a pretrained file decides its own dim (the schema's 300 is for training)
        dim=None if pretrained else settings["dim"],
        seed=settings["seed"],
        source_name=settings["url"] if from_url else None,
        source_sha256=(settings.get("sha256") or "").lower() or None if from_url else None,
        **({} if pretrained else fasttext_options(settings)),
    )
    logger.info("embeddings %s in %.1f s", matrix.shape, time.perf_counter() - start)


# ------------------------------------------------------------------------ grid-point stages


def _point_name(point: Mapping) -> str:
    return f"{point['experiment']}/{point['point_id']}"


def simulate_pack(
    corpus_dir: str | os.PathLike,
    points: Sequence[Mapping],
    settings: Mapping,
    out: str | os.PathLike,
    *,
    embeddings: str | os.PathLike | None = None,
    measures: Sequence[str] | None = None,
) -> None:
    """Simulate the tasks of every grid point of a pack (the paper's Algorithm 1).

    Writes one Parquet table with the columns ``point_id``, ``token`` (row of the
    training windows) and ``label_0`` (NER) … ``label_{T-1}``, ``-1`` where a task
    does not label a token. The Parquet metadata key ``mtllaws.tasks`` holds, per
    point, the α of every synthetic task (``NaN`` for a real one), the input ``rotation``
    (degrees), the real auxiliary tasks (``aux_tasks``: names) and every task's head size
    (``n_classes``) when it has real tasks, and every enabled measure
    (``settings["measures"]``, AMI always) of the tasks that can be
    measured before training.

    Parameters
    ----------
    corpus_dir : path-like
        The prepared corpus.
    points : sequence of mapping
        Grid points (:meth:`mtllaws.grid.GridPoint.record`) of one pack, one T.
    settings : mapping
        The experiment's settings (``slices``).
    out : path-like
        The Parquet file.
    embeddings : path-like, optional
        The embedding matrix; required when an enabled measure needs the inputs.
    measures : sequence of str, optional
        The experiment's ``measures`` (default: ``settings["measures"]``, else AMI).
    """
    from mtllaws.alignment import point_input_maps
    from mtllaws.corpus import load_prepared
    from mtllaws.relatedness import alpha_for_ami
    from mtllaws.simulate import make_tasks

    prepared = load_prepared(corpus_dir)
    measures = simulate_measures(settings, measures)
    matrix = None
    if any(MEASURES[m].needs == "inputs" for m in measures):
        if embeddings is None:
            raise ValueError(f"measures {list(measures)} need the embeddings: pass the "
                             "simulate rule's embeddings input")
        from mtllaws.embeddings import load_embeddings

        matrix = load_embeddings(embeddings)
    frames, meta, alphas = [], {}, {}
    for point in points:
        start = time.perf_counter()
        alpha = point["alpha"]
        real = [aux_task_name(t) for t in point.get("aux_tasks") or ()]
        for name in real:
            if name not in prepared.aux_names:
                raise ValueError(
                    f"{_point_name(point)}: real task {name!r} is not cached in the corpus "
                    f"{corpus_dir} (it has {list(prepared.aux_names)}); rebuild it with "
                    "aux_columns naming it (the workflow's prepare_corpus does)"
                )
        real_classes = [len(prepared.aux_label_names(name)) for name in real]
        pattern = _pattern_alphas(point, prepared.n_classes)
        if point["n_tasks"] - 1 > len(real) and alpha is None and pattern is None:
            if point["ami"] not in alphas:
                # seed 0 for every point: all seeds of a configuration share one alpha
                alphas[point["ami"]] = alpha_for_ami(
                    point["ami"],
                    prepared.train_y,
                    c=prepared.n_classes,
                    seed=0,
                    point=_point_name(point),
                )
            alpha = alphas[point["ami"]]
        tasks = make_tasks(
            prepared.train_y,
            prepared.train_sentence_lengths,
            n_tasks=point["n_tasks"],
            n_ner=point["n_ner"],
            n_syn=point["n_syn"] or None,
            alphas=alpha if pattern is None else pattern,
            slices=settings["slices"],
            seed=point["seed"],
            n_classes=prepared.n_classes,
            point=_point_name(point),
            measures=measures,
            windows=None if matrix is None else prepared.train_windows,
            embeddings=matrix,
            input_maps=None if matrix is None else point_input_maps(
                point["n_tasks"], matrix.shape[1], _rotation(point), point["seed"]),
            real_columns=[prepared.aux_labels(name, "train") for name in real],
            real_classes=real_classes,
        )
        frame = pd.DataFrame({"point_id": point["point_id"], "token": tasks.token_idx})
        for t in range(tasks.n_tasks):
            frame[f"label_{t}"] = tasks.labels[:, t].astype(np.int8)
        frames.append(frame)
        meta[point["point_id"]] = {
            "alpha": None if alpha is None else float(alpha),
            "alphas": [float(a) for a in tasks.alphas],
            "rotation": _rotation(point),
            "alpha_pattern": _alpha_pattern(point),
            **({"aux_tasks": real,
                "n_classes": [prepared.n_classes, *real_classes]
                + [prepared.n_classes] * (point["n_tasks"] - 1 - len(real))} if real else {}),
            **{name: [float(v) for v in values] for name, values in tasks.measures.items()},
        }
        logger.info(
            "%s: %d rows, AMI %s in %.2f s",
            _point_name(point),
            len(frame),
            np.round(tasks.ami, 3).tolist(),
            time.perf_counter() - start,
        )
    mtl_shards.write_parquet(
        pd.concat(frames, ignore_index=True), out, metadata={"mtllaws.tasks": json.dumps(meta)}
    )


def _rotation(point: Mapping) -> float:
    """The point's input rotation in degrees (0 for records without the field)."""
    return float(point.get("rotation") or 0.0)


def _alpha_pattern(point: Mapping) -> str:
    """The point's ``alphas`` pattern as text (:func:`mtllaws.grid.pattern_label`); ``""``."""
    from mtllaws.grid import pattern_label

    return pattern_label(point.get("alphas"))


def _pattern_alphas(point: Mapping, n_classes: int) -> list[float] | None:
    """The per-task α of a point with an ``alphas`` pattern (``noise`` = 1/c); else None."""
    from mtllaws.grid import pattern_alphas

    pattern = point.get("alphas")
    if not pattern or point["n_tasks"] == 1:
        return None
    return pattern_alphas(pattern, n_classes)


def experiment_measures(settings: Mapping, measures: Sequence[str] | None = None
                        ) -> tuple[str, ...]:
    """The enabled measures: ``measures``, else the settings' ``measures`` (AMI first, on).

    The workflow passes the experiment's ``measures`` key on its own (it stays out of
    the model settings and the config hash: measures do not change a model).
    """
    from mtllaws.relatedness import enabled_measures

    names = settings.get("measures") if measures is None else measures
    return enabled_measures(names, key="measures")


def simulate_measures(settings: Mapping, measures: Sequence[str] | None = None
                      ) -> tuple[str, ...]:
    """The enabled measures computed when the tasks are simulated (not ``needs="model"``)."""
    return tuple(m for m in experiment_measures(settings, measures)
                 if MEASURES[m].needs != "model")


def _maps(point: Mapping, n_tasks: int, dim: int):
    from mtllaws.alignment import point_input_maps

    return point_input_maps(n_tasks, dim, _rotation(point), point["seed"])


def read_tasks(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """Read a simulate shard: the label table and the per-point metadata."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"mtllaws.tasks"])
    return table.to_pandas(), meta


@dataclass(frozen=True)
class Pack:
    """A pack of grid points and the files that its train and evaluate stages read.

    Attributes
    ----------
    corpus : path-like
        The corpus cache (:func:`prepare_corpus_stage`).
    embeddings : path-like
        The embedding matrix (:func:`prepare_embeddings_stage`).
    tasks : path-like
        The pack's simulate shard (:func:`simulate_pack`).
    points : sequence of mapping
        The grid points' records (:meth:`mtllaws.grid.GridPoint.record`).
    """

    corpus: str | os.PathLike
    embeddings: str | os.PathLike
    tasks: str | os.PathLike
    points: Sequence[Mapping]

    def load(self):
        """The prepared corpus, the embedding matrix, and the simulate shard's label
        table and per-point metadata (:func:`read_tasks`)."""
        from mtllaws.corpus import load_prepared
        from mtllaws.embeddings import load_embeddings

        table, meta = read_tasks(self.tasks)
        return load_prepared(self.corpus), load_embeddings(self.embeddings), table, meta


def _point_arrays(tasks: pd.DataFrame, point_id: str) -> tuple[np.ndarray, np.ndarray]:
    rows = tasks[tasks["point_id"] == point_id]
    if rows.empty:
        raise ValueError(f"the simulate shard holds no rows for grid point {point_id}")
    labels = rows[[c for c in rows.columns if c.startswith("label_")]].to_numpy(np.int64)
    return rows["token"].to_numpy(np.int64), labels


def build_model_config(
    settings: Mapping, *, n_tasks: int, n_classes, emb_dim: int, window: int
):
    """The :class:`~mtllaws.models.ModelConfig` of an experiment's ``model`` settings.

    ``n_classes`` is NER's class count, or one head size per task (real auxiliary tasks,
    from the simulate shard's ``n_classes``, :func:`pack_class_counts`).

    ``hidden``, ``dense`` and ``shared_dense`` set to null keep the preset's value
    (:func:`mtllaws.settings.model_overrides`).
    """
    from mtllaws.models import model_config

    model = settings["model"]
    overrides = model_overrides(model)
    return model_config(
        model["preset"],
        n_tasks=n_tasks,
        n_classes=n_classes,
        emb_dim=emb_dim,
        window=window,
        **overrides,
    )


def build_train_config(settings: Mapping, *, threads: int | None = None):
    """The :class:`~mtllaws.train.TrainConfig` of an experiment's ``train`` settings."""
    from mtllaws.train import TrainConfig

    train = settings["train"]
    return TrainConfig(
        epochs=train["epochs"],
        batch_size=train["batch_size"],
        schedule=train["schedule"],
        lr=train["lr"],
        device=train["device"],
        tf32=train["tf32"],
        threads=threads or train["threads"],
        early_stopping=train["early_stopping"],
        patience=train["patience"],
        checkpoint_every=train["checkpoint_every"],
        # issue 18: alignment phase and SVD task weights (schema defaults when absent)
        align_phase=train.get("align_phase", "joint"),
        align_epochs=train.get("align_epochs", 0),
        task_weights=train.get("task_weights", "none"),
        svd_rank=train.get("svd_rank"),
        svd_every=train.get("svd_every", 0),
        svd_level=train.get("svd_level", "input"),
    )


def pack_class_counts(meta: Mapping, points: Sequence[Mapping], n_ner: int):
    """The head sizes of a pack's model, from the simulate shard's metadata.

    NER's ``n_ner`` (an int) when no point has real tasks, else the one tuple of head
    sizes that all points of the pack share (a pack has one configuration).
    """
    from mtllaws.realtasks import class_counts

    sizes = set()
    for point in points:
        counts = meta[point["point_id"]].get("n_classes")
        if counts is None:
            sizes.add(int(n_ner))
        else:
            sizes.add(class_counts(len(counts), n_ner, dict(enumerate(counts[1:], start=1))))
    if len(sizes) != 1:
        raise ValueError(f"the pack's points have different head sizes {sorted(map(str, sizes))};"
                         " a pack holds one configuration, so they must agree")
    return sizes.pop()


def _dev_scorer(prepared, embeddings):
    from mtllaws.evaluate import score_ids
    from mtllaws.train import predict

    def dev_f1(model) -> float:
        pred = predict(model, prepared.dev_windows, embeddings, task=0)
        return score_ids(prepared.dev_tags, pred, prepared.labels)["f1"]

    return dev_f1


def train_pack(
    pack: Pack,
    *,
    settings: Mapping,
    model_out: str | os.PathLike,
    shard_out: str | os.PathLike,
    checkpoint_dir: str | os.PathLike | None = None,
    threads: int | None = None,
) -> None:
    """Train the model of every grid point of a pack under ``settings``.

    Writes ``model_out`` (a torch file with the model config and one state dict per
    point) and ``shard_out`` (one row per point: per-epoch training loss, epochs run,
    training time). With ``train.multi_model`` the pack's models are trained together
    by :func:`mtllaws.engine.train_models` (stacked weights; meant for GPUs). Otherwise,
    with ``train.checkpoint_every > 0`` each point checkpoints into
    ``checkpoint_dir`` and a rerun resumes from there; the checkpoints are removed once
    both outputs are written.
    """
    import torch

    from mtllaws.train import train_model

    points = pack.points
    prepared, matrix, table, meta = pack.load()
    train_cfg = build_train_config(settings, threads=threads)
    data = [_point_arrays(table, point["point_id"]) for point in points]
    model_cfg = build_model_config(
        settings,
        n_tasks=data[0][1].shape[1],
        n_classes=pack_class_counts(meta, points, prepared.n_classes),
        emb_dim=matrix.shape[1],
        window=prepared.window,
    )
    stacked = settings["train"].get("multi_model", False) and len(points) > 1
    if stacked and (train_cfg.checkpoint_every or train_cfg.early_stopping):
        raise ValueError(
            "train.multi_model trains a pack's models together and cannot checkpoint or "
            "stop early; set train.checkpoint_every: 0 and train.early_stopping: false, "
            "or train.multi_model: false"
        )
    states, rows, checkpoints = {}, [], []
    if stacked:
        from mtllaws.engine import train_models

        start = time.perf_counter()
        maps = [_maps(point, model_cfg.n_tasks, matrix.shape[1]) for point in points]
        if all(m is None for m in maps):
            maps = None
        else:
            dim = matrix.shape[1]  # an unrotated point of a rotated pack: identity maps
            eye = np.broadcast_to(np.eye(dim), (model_cfg.n_tasks, dim, dim))
            maps = np.stack([eye if m is None else m for m in maps])
        results = train_models(
            model_cfg,
            train_cfg,
            [(prepared.train_windows[token], labels) for token, labels in data],
            matrix,
            seeds=[point["seed"] for point in points],
            points=[_point_name(point) for point in points],
            input_maps=maps,
        )
        seconds = [(time.perf_counter() - start) / len(points)] * len(points)
    else:
        results, seconds = [], []
        for point, (token, labels) in zip(points, data, strict=True):
            checkpoint = None
            if train_cfg.checkpoint_every and checkpoint_dir:
                checkpoint = Path(checkpoint_dir, f"{point['point_id']}.pt")
                checkpoints.append(checkpoint)
            start = time.perf_counter()
            results.append(
                train_model(
                    model_cfg,
                    train_cfg,
                    prepared.train_windows[token],
                    labels,
                    matrix,
                    seed=point["seed"],
                    point=_point_name(point),
                    checkpoint_path=checkpoint,
                    dev=_dev_scorer(prepared, matrix) if train_cfg.early_stopping else None,
                    input_maps=_maps(point, model_cfg.n_tasks, matrix.shape[1]),
                )
            )
            seconds.append(time.perf_counter() - start)
    for point, (_, labels), result, took in zip(points, data, results, seconds, strict=True):
        states[point["point_id"]] = {k: v.cpu() for k, v in result.model.state_dict().items()}
        rows.append(
            {
                "point_id": point["point_id"],
                "train_loss": [float(x) for x in result.losses],
                "epochs_run": len(result.losses),
                "resumed_epoch": result.resumed_epoch,
                "train_time_s": took,
                **({} if result.task_weights is None else {"task_weights": result.task_weights}),
            }
        )
        logger.info(
            "%s: %d epochs, final loss %.4f, %.1f s (%.3f ms/sample)",
            _point_name(point),
            len(result.losses),
            result.losses[-1],
            took,
            1000 * took / max(1, (labels >= 0).sum() * len(result.losses)),
        )
    with atomic_path(model_out) as tmp:
        torch.save({"model_config": model_cfg.to_dict(), "states": states}, tmp)
    mtl_shards.write_parquet(pd.DataFrame(rows), shard_out)
    for checkpoint in checkpoints:
        checkpoint.unlink(missing_ok=True)


def evaluate_pack(
    pack: Pack,
    *,
    model: str | os.PathLike,
    train_shard: str | os.PathLike,
    settings: Mapping,
    out: str | os.PathLike,
    measures: Sequence[str] | None = None,
) -> None:
    """Score NER on dev and test for every model of a pack: one row per model.

    ``model`` and ``train_shard`` are :func:`train_pack`'s outputs for ``pack``.

    The rows follow :data:`mtllaws.shards.RUN_COLUMNS`, plus per-type F1
    (``dev_f1_PER`` …) and, with ``evaluate.all_tasks``, the accuracy of every
    synthetic task's head on its own simulated labels of the dev split
    (``dev_task_accuracy``, a list). The enabled measures (``measures``, default
    ``settings["measures"]``) recorded by the simulate step are copied into each row;
    those that need a trained model (``head_cka``) are computed here, on the NER dev
    windows of :func:`mtllaws.alignment.head_cka_sample`.
    """
    import torch

    from mtllaws.embeddings import embeddings_source
    from mtllaws.evaluate import score_ids
    from mtllaws.models import ModelConfig, MTLNet
    from mtllaws.train import predict

    points = pack.points
    prepared, matrix, _, meta = pack.load()
    saved = torch.load(model, map_location="cpu", weights_only=True)
    train_rows = pd.read_parquet(train_shard).set_index("point_id")
    model_cfg = ModelConfig(**saved["model_config"])
    digest = config_hash(settings)
    source = embeddings_source(pack.embeddings)
    model_measures = [m for m in experiment_measures(settings, measures)
                      if MEASURES[m].needs == "model"]
    sample = None
    if model_measures:
        from mtllaws.alignment import head_cka_sample

        sample = prepared.dev_windows[head_cka_sample(len(prepared.dev_y))]
    rows = []
    for point in points:
        start = time.perf_counter()
        state = saved["states"][point["point_id"]]
        net = MTLNet(model_cfg, input_maps=state.get("input_maps"))
        net.load_state_dict(state)
        net.eval()
        measured = {k: v for k, v in meta[point["point_id"]].items() if k in MEASURES}
        if model_measures and point["n_tasks"] > 1:
            from mtllaws.relatedness import ModelInputs, model_values

            measured.update(model_values(
                model_measures,
                ModelInputs(model=net, windows=sample, embeddings=matrix, seed=point["seed"]),
                n_tasks=point["n_tasks"], point=_point_name(point)))
        elif model_measures:
            measured.update({m: [] for m in model_measures})
        row = {
            "experiment": point["experiment"],
            "mode": point["mode"],
            "slices": settings["slices"],
            "config_id": point["config_id"],
            "point_id": point["point_id"],
            "n_tasks": point["n_tasks"],
            "n_tokens_per_task": np.nan
            if point["n_tokens_per_task"] is None
            else float(point["n_tokens_per_task"]),
            "n_ner": point["n_ner"],
            "n_syn": point["n_syn"],
            "alpha": np.nan
            if meta[point["point_id"]]["alpha"] is None
            else meta[point["point_id"]]["alpha"],
            TARGET_COLUMN: np.nan if point["ami"] is None else float(point["ami"]),
            "rotation": _rotation(point),
            # real auxiliary tasks ("pos+chunk"); only rows that have them carry the
            # column, so tables without real tasks stay as they were (aggregate fills "")
            **({"aux_tasks": aux_level_label(point["aux_tasks"])}
               if point.get("aux_tasks") else {}),
            "alpha_pattern": _alpha_pattern(point),
            "alphas": [float(a) for a in meta[point["point_id"]]["alphas"]],
            "seed": point["seed"],
            # the model settings that the transfer experiments vary (issue 18)
            "hidden": int(model_cfg.hidden),
            "align": model_cfg.align,
            **run_values(measured),
        }
        all_tasks = settings["evaluate"]["all_tasks"] and point["n_tasks"] > 1
        for split in ("dev", "test"):
            # Every head reads the same encoding: with all_tasks, encode dev once for all.
            every = all_tasks and split == "dev"
            pred = predict(net, getattr(prepared, f"{split}_windows"), matrix,
                           task=None if every else 0)
            if every:
                row["dev_task_accuracy"] = _task_accuracy(pred, prepared, point, meta)
                pred = pred[:, 0]
            scores = score_ids(getattr(prepared, f"{split}_tags"), pred, prepared.labels)
            for key, value in scores.items():
                row[f"{split}_{key}"] = float(value)
        trained = train_rows.loc[point["point_id"]]
        row["train_loss"] = list(trained["train_loss"])
        row["epochs_run"] = int(trained["epochs_run"])
        if "task_weights" in trained.index:  # train.task_weights: svd (issue 18)
            row["task_weights"] = [float(w) for w in trained["task_weights"]]
        row["train_time_s"] = float(trained["train_time_s"])
        row["eval_time_s"] = time.perf_counter() - start
        row["wall_time_s"] = row["train_time_s"] + row["eval_time_s"]
        row["version"] = __version__
        row["config_hash"] = digest
        row["embeddings_source"] = source
        rows.append(row)
        logger.info(
            "%s: dev F1 %.4f, test F1 %.4f (%.1f s)",
            _point_name(point),
            row["dev_f1"],
            row["test_f1"],
            row["eval_time_s"],
        )
    mtl_shards.write_parquet(pd.DataFrame(rows), out)


def _task_accuracy(pred: np.ndarray, prepared, point, meta) -> list[float]:
    """Accuracy of each synthetic head (``pred[:, t]``, dev) on dev labels simulated with
    the task's alpha."""
    from mtllaws.simulate import simulate_labels

    rng = np.random.default_rng([point["seed"], 1])
    accuracies = []
    for t, alpha in enumerate(meta[point["point_id"]]["alphas"], start=1):
        if alpha != alpha:  # a real task (NaN alpha): no simulated dev labels to score
            accuracies.append(float("nan"))
            continue
        gold = simulate_labels(prepared.dev_y, alpha, prepared.n_classes, rng)
        accuracies.append(float((pred[:, t] == gold).mean()))
    return accuracies


def collect_study_results(paths: Sequence[str | os.PathLike]) -> list[dict]:
    """Concatenate the ``results.json`` lists written by the regress jobs, in order."""
    results: list[dict] = []
    for path in paths:
        try:
            results.extend(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"cannot read study results {path}: {exc}; rerun its regress job"
            ) from exc
    return results
