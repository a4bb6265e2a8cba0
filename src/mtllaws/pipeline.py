"""The workflow's stages as plain functions.

Each Snakemake rule's script reads the ``snakemake`` object and calls one
function here; nothing in ``workflow/`` re-implements logic. The functions take
paths and plain settings dicts (the validated config), so they can be called
and tested without Snakemake.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mtllaws import __version__
from mtllaws import shards as mtl_shards
from mtllaws.atomic import atomic_path, sha256_file
from mtllaws.grid import config_hash, expand_experiment
from mtllaws.logs import configure_logging
from mtllaws.relatedness import MEASURES, TARGET_COLUMN, run_values

__all__ = [
    "SPLITS",
    "check_config",
    "validate_config",
    "corpus_facts",
    "CONLL2003_FACTS",
    "corpus_settings",
    "embedding_id",
    "embedding_settings",
    "embedding_download_path",
    "fasttext_options",
    "download_embeddings_stage",
    "configure_logging",
    "sha256_file",
    "download_corpus",
    "aggregate",
    "prepare_corpus_stage",
    "prepare_embeddings_stage",
    "build_model_config",
    "build_train_config",
    "simulate_pack",
    "read_tasks",
    "train_pack",
    "evaluate_pack",
    "collect_study_results",
    "check_regress_config",
]

#: The corpus files every corpus folder holds, by split name.
SPLITS = ("train", "valid", "test")

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
        else Path("resources", "corpus", settings["name"], "download")
    )
    train = folder / "train.txt" if folder.is_absolute() else root / folder / "train.txt"
    if train.is_file():
        c, n = _count_train(train)
        return {"n_classes": c, "n_train": n, "source": str(train)}
    meta = root / "resources" / "corpus" / settings["name"] / "prepared" / "meta.json"
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


def _summary_columns(points) -> set[str]:
    """The columns the experiment's summary table will have (per-type F1 aside)."""
    from mtllaws.shards import GROUP_KEYS, RUN_COLUMNS

    metrics = [c for c, kind in RUN_COLUMNS.items() if kind in "if" and c not in GROUP_KEYS]
    metrics += ["epochs_run", "train_time_s", "eval_time_s"]
    for split in ("dev", "test"):
        metrics += [f"{split}_{k}" for k in ("n_gold", "n_pred", "n_correct", "n_tokens")]
    metrics = [m for m in metrics if m != "seed"]
    return {*GROUP_KEYS, "count", *(f"{m}_{s}" for m in metrics for s in ("mean", "std"))}


def _check_studies(name: str, exp: Mapping, points) -> None:
    """Study features and ``fixed`` columns exist; ``fixed`` values match the grid."""
    import re

    from mtllaws.regress import aliases, resolve_column

    if not exp.get("studies"):
        return
    points = list({(p.n_tasks, p.n_ner, p.n_syn, p.alpha, p.ami): p for p in points}.values())
    columns = _summary_columns(points)
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
                "_alpha_unknown": p.ami is not None,
            }
            for p in points
        ]
    ).drop_duplicates()
    probe = pd.DataFrame(columns=sorted(columns))
    for i, study in enumerate(exp.get("studies") or []):
        where = f"experiments.{name}.studies[{i}] ({study.get('name')!r})"
        for key in [*study.get("features", []), *(study.get("fixed") or {})]:
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
            listed = isinstance(value, list | tuple)
            try:
                wanted = [float(v) for v in (value if listed else [value])]
            except (TypeError, ValueError):
                raise ValueError(
                    f"{where}: fixed {key}={value!r} is not a number or a list of numbers"
                ) from None
            values = configs[column].to_numpy(float)
            hit = np.zeros(len(configs), dtype=bool)
            for v in wanted:
                hit |= np.isclose(values, v, rtol=1e-9, atol=1e-12)
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
    check_regress_config(config, experiments)
    return experiments


def corpus_settings(experiments: Mapping, name: str) -> dict:
    """The corpus settings of the experiments that use the corpus ``name``."""
    for exp in experiments.values():
        if exp["corpus"]["name"] == name:
            return dict(exp["corpus"])
    raise ValueError(f"no experiment uses a corpus named '{name}'")


def embedding_id(settings: Mapping) -> str:
    """A file-name-safe id of an embeddings configuration.

    ``fasttext300_s0`` for vectors trained here, ``pretrained_<stem>_<hash>`` for a
    file (the hash covers the path, so two files of one name do not collide).
    """
    path = settings.get("pretrained") or settings.get("url")
    if path:
        path = str(path)
        stem = "".join(ch if ch.isalnum() else "_" for ch in Path(path).stem)[:40]
        digest = hashlib.sha256(path.encode()).hexdigest()[:8]
        return f"pretrained_{stem}_{digest}"
    base = f"fasttext{settings['dim']}_s{settings['seed']}"
    # Settings that differ from train_fasttext's defaults get a hash suffix, so that
    # the default id (and the files cached under it) stays as it was.
    from mtllaws.embeddings import FASTTEXT_DEFAULTS, FASTTEXT_EPOCHS

    options = fasttext_options(settings)
    changed = {k: v for k, v in options.items() if k == "epochs" and v != FASTTEXT_EPOCHS
               or k != "epochs" and v != FASTTEXT_DEFAULTS.get(k)}
    if not changed:
        return base
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:8]
    return f"{base}_{digest}"


#: Config keys of corpus-trained fastText -> train_fasttext keyword.
_FASTTEXT_KEYS = {
    "epochs": "epochs",
    "window": "window",
    "minn": "min_n",
    "maxn": "max_n",
    "bucket": "bucket",
    "negative": "negative",
    "min_count": "min_count",
    "sample": "sample",
    "sg": "sg",
}


def fasttext_options(settings: Mapping) -> dict:
    """The ``train_fasttext`` keywords (besides dim and seed) of an ``embeddings`` config.

    Keys absent from ``settings`` are left out (the function's defaults apply).

    Raises
    ------
    ValueError
        ``minn`` is above ``maxn``; the message names the keys.
    """
    options = {kw: settings[key] for key, kw in _FASTTEXT_KEYS.items() if key in settings}
    if options.get("min_n", 0) > options.get("max_n", options.get("min_n", 0)):
        raise ValueError(
            f"embeddings.minn ({options['min_n']}) is above embeddings.maxn "
            f"({options['max_n']}); set minn <= maxn (both 0 turn subwords off)"
        )
    if "sample" in options:
        options["sample"] = float(options["sample"])
    return options


def embedding_download_path(settings: Mapping) -> str:
    """Where the file at ``embeddings.url`` is downloaded to ("" without a URL).

    ``resources/embeddings/download/<8 hex of the URL's sha256>_<file name>``: the
    file name keeps the URL's extension (it decides the format); the prefix keeps
    two URLs with one file name apart.
    """
    url = settings.get("url") or ""
    if not url or settings.get("pretrained"):
        return ""
    import urllib.parse

    name = Path(urllib.parse.urlparse(url).path).name
    name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name) or "vectors"
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    return str(Path("resources", "embeddings", "download", f"{digest}_{name}"))


def embedding_settings(experiments: Mapping, corpus: str, emb_id: str) -> dict:
    """The embeddings settings that :func:`embedding_id` names ``emb_id`` for ``corpus``."""
    for exp in experiments.values():
        if exp["corpus"]["name"] == corpus and embedding_id(exp["embeddings"]) == emb_id:
            return dict(exp["embeddings"])
    raise ValueError(f"no experiment uses embeddings '{emb_id}' with corpus '{corpus}'")


def download_corpus(
    url: str, sha256: Mapping[str, str], outputs: Mapping[str, str | os.PathLike]
) -> None:
    """Download a zip of the corpus, check each file's sha256, write the outputs.

    Parameters
    ----------
    url : str
        A zip archive holding ``train.txt``, ``valid.txt`` (or ``dev.txt``) and ``test.txt``
        (at any depth), or a ``file://`` URL of one.
    sha256 : mapping
        Expected sha256 by split; a split without one is not checked.
    outputs : mapping
        Destination path by split.

    Raises
    ------
    ValueError
        The machine is offline, the archive lacks a file, or a checksum differs.
        Nothing is written then.
    """
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = " ".join(str(exc).split())
        raise ValueError(
            f"could not download the corpus from corpus.url = {url} ({reason}); offline? "
            "set corpus.dir in the config or $MTLLAWS_CONLL to a folder with train.txt, "
            "valid.txt (or dev.txt) and test.txt"
        ) from exc
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile as exc:
        raise ValueError(f"corpus.url = {url} did not return a zip archive") from exc
    members = {Path(n).name: n for n in archive.namelist() if not n.endswith("/")}
    staged = {}
    for split, dest in outputs.items():
        member = members.get(f"{split}.txt")
        if member is None and split == "valid":
            member = members.get("dev.txt")
        if member is None:
            raise ValueError(f"the archive at corpus.url = {url} holds no {split}.txt")
        data = archive.read(member)
        actual = hashlib.sha256(data).hexdigest()
        expected = sha256.get(split, "")
        if expected and actual != expected:
            raise ValueError(
                f"{split}.txt from {url} has sha256 {actual}, expected {expected} "
                f"(corpus.sha256.{split}); the mirror changed: check it, then update the pin"
            )
        staged[split] = (data, Path(dest))
    for data, dest in staged.values():
        with atomic_path(dest) as tmp:
            tmp.write_bytes(data)


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
        The experiment's ``corpus`` settings (``window``, ``cross_sentence``).
    """
    from mtllaws.corpus import prepare_corpus

    folders = {Path(p).resolve().parent for p in sources.values()}
    if len(folders) != 1:
        raise ValueError(f"the corpus files {dict(sources)} must lie in one folder")
    start = time.perf_counter()
    prepared = prepare_corpus(
        folders.pop(), out_dir, k=settings["window"], cross_sentence=settings["cross_sentence"]
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


def download_embeddings_stage(settings: Mapping, out: str | os.PathLike) -> None:
    """Download the file at ``embeddings.url`` to ``out`` (checked by size and sha256)."""
    from mtllaws.embeddings import download_vectors

    download_vectors(
        settings["url"], out, sha256=settings.get("sha256") or "", size=settings.get("size") or 0
    )


# ------------------------------------------------------------------------ grid-point stages


def _point_name(point: Mapping) -> str:
    return f"{point['experiment']}/{point['point_id']}"


def simulate_pack(
    corpus_dir: str | os.PathLike,
    points: Sequence[Mapping],
    settings: Mapping,
    out: str | os.PathLike,
) -> None:
    """Simulate the tasks of every grid point of a pack (the paper's Algorithm 1).

    Writes one Parquet table with the columns ``point_id``, ``token`` (row of the
    training windows) and ``label_0`` (NER) … ``label_{T-1}``, ``-1`` where a task
    does not label a token. The Parquet metadata key ``mtllaws.tasks`` holds, per
    point, the α of every synthetic task and their measured AMI to NER.

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
    """
    from mtllaws.corpus import load_prepared
    from mtllaws.relatedness import alpha_for_ami
    from mtllaws.simulate import make_tasks

    prepared = load_prepared(corpus_dir)
    frames, meta, alphas = [], {}, {}
    for point in points:
        start = time.perf_counter()
        alpha = point["alpha"]
        if point["n_tasks"] > 1 and alpha is None:
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
            alphas=alpha,
            slices=settings["slices"],
            seed=point["seed"],
            n_classes=prepared.n_classes,
            point=_point_name(point),
        )
        frame = pd.DataFrame({"point_id": point["point_id"], "token": tasks.token_idx})
        for t in range(tasks.n_tasks):
            frame[f"label_{t}"] = tasks.labels[:, t].astype(np.int8)
        frames.append(frame)
        meta[point["point_id"]] = {
            "alpha": None if alpha is None else float(alpha),
            "alphas": [float(a) for a in tasks.alphas],
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


def read_tasks(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """Read a simulate shard: the label table and the per-point metadata."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"mtllaws.tasks"])
    return table.to_pandas(), meta


def _point_arrays(tasks: pd.DataFrame, point_id: str) -> tuple[np.ndarray, np.ndarray]:
    rows = tasks[tasks["point_id"] == point_id]
    if rows.empty:
        raise ValueError(f"the simulate shard holds no rows for grid point {point_id}")
    labels = rows[[c for c in rows.columns if c.startswith("label_")]].to_numpy(np.int64)
    return rows["token"].to_numpy(np.int64), labels


def build_model_config(
    settings: Mapping, *, n_tasks: int, n_classes: int, emb_dim: int, window: int
):
    """The :class:`~mtllaws.models.ModelConfig` of an experiment's ``model`` settings."""
    from mtllaws.models import model_config

    model = settings["model"]
    overrides = {}
    if model.get("layers"):
        overrides["layers"] = model["layers"]
    if model.get("hidden"):
        overrides["hidden"] = model["hidden"]
    if model.get("dense") is not None:
        overrides["dense"] = tuple(model["dense"])
    if model.get("shared_dense", -1) >= 0:
        overrides["shared_dense"] = model["shared_dense"]
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
    )


def _dev_scorer(prepared, embeddings):
    from mtllaws.evaluate import score_ids
    from mtllaws.train import predict

    def dev_f1(model) -> float:
        pred = predict(model, prepared.dev_windows, embeddings, task=0)
        return score_ids(prepared.dev_tags, pred, prepared.labels)["f1"]

    return dev_f1


def train_pack(
    *,
    corpus: str | os.PathLike,
    embeddings: str | os.PathLike,
    tasks: str | os.PathLike,
    points: Sequence[Mapping],
    settings: Mapping,
    model_out: str | os.PathLike,
    shard_out: str | os.PathLike,
    checkpoint_dir: str | os.PathLike | None = None,
    threads: int | None = None,
) -> None:
    """Train the model of every grid point of a pack.

    Writes ``model_out`` (a torch file with the model config and one state dict per
    point) and ``shard_out`` (one row per point: per-epoch training loss, epochs run,
    training time). With ``train.multi_model`` the pack's models are trained together
    by :func:`mtllaws.engine.train_models` (stacked weights; meant for GPUs). Otherwise,
    with ``train.checkpoint_every > 0`` each point checkpoints into
    ``checkpoint_dir`` and a rerun resumes from there; the checkpoints are removed once
    both outputs are written.
    """
    import torch

    from mtllaws.corpus import load_prepared
    from mtllaws.embeddings import load_embeddings
    from mtllaws.train import train_model

    prepared = load_prepared(corpus)
    matrix = load_embeddings(embeddings)
    table, _ = read_tasks(tasks)
    train_cfg = build_train_config(settings, threads=threads)
    data = [_point_arrays(table, point["point_id"]) for point in points]
    model_cfg = build_model_config(
        settings,
        n_tasks=data[0][1].shape[1],
        n_classes=prepared.n_classes,
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
        results = train_models(
            model_cfg,
            train_cfg,
            [(prepared.train_windows[token], labels) for token, labels in data],
            matrix,
            seeds=[point["seed"] for point in points],
            points=[_point_name(point) for point in points],
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
    *,
    corpus: str | os.PathLike,
    embeddings: str | os.PathLike,
    tasks: str | os.PathLike,
    model: str | os.PathLike,
    train_shard: str | os.PathLike,
    points: Sequence[Mapping],
    settings: Mapping,
    out: str | os.PathLike,
) -> None:
    """Score NER on dev and test for every model of a pack: one row per model.

    The rows follow :data:`mtllaws.shards.RUN_COLUMNS`, plus per-type F1
    (``dev_f1_PER`` …) and, with ``evaluate.all_tasks``, the accuracy of every
    synthetic task's head on its own simulated labels of the dev split
    (``dev_task_accuracy``, a list).
    """
    import torch

    from mtllaws.corpus import load_prepared
    from mtllaws.embeddings import embeddings_source, load_embeddings
    from mtllaws.evaluate import score_ids
    from mtllaws.models import ModelConfig, MTLNet
    from mtllaws.train import predict

    prepared = load_prepared(corpus)
    matrix = load_embeddings(embeddings)
    _, meta = read_tasks(tasks)
    saved = torch.load(model, map_location="cpu", weights_only=True)
    train_rows = pd.read_parquet(train_shard).set_index("point_id")
    model_cfg = ModelConfig(**saved["model_config"])
    digest = config_hash(settings)
    source = embeddings_source(embeddings)
    rows = []
    for point in points:
        start = time.perf_counter()
        net = MTLNet(model_cfg)
        net.load_state_dict(saved["states"][point["point_id"]])
        net.eval()
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
            "seed": point["seed"],
            **run_values({k: v for k, v in meta[point["point_id"]].items() if k in MEASURES}),
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
    from mtllaws.regress import ENGINES
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
                    test_size=float(regress.get("test_size", 0.1)),
                    cv=int(regress.get("cv", 5)),
                    extrapolate=axes,
                )
            except ValueError as err:
                raise ValueError(f"experiments.{name}.studies: {err}") from None
