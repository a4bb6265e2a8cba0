"""Lookups in the checked config: which settings a corpus or embeddings id names.

``workflow/rules/common.smk`` and the stages use these to turn a wildcard (corpus
name, embeddings id) back into its settings, and an ``embeddings`` block into the
file name of its cache (:func:`embedding_id`) and the ``train_fasttext`` keywords
(:func:`fasttext_options`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "KEEP_PRESET",
    "OLD_KEEP_MARKERS",
    "model_overrides",
    "corpus_settings",
    "embedding_download_path",
    "embedding_id",
    "embedding_settings",
    "fasttext_options",
]


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
    from mtllaws.paths import EMBEDDINGS

    return str(Path(EMBEDDINGS["download"].format(download=f"{digest}_{name}")))


def embedding_settings(experiments: Mapping, corpus: str, emb_id: str) -> dict:
    """The embeddings settings that :func:`embedding_id` names ``emb_id`` for ``corpus``."""
    for exp in experiments.values():
        if exp["corpus"]["name"] == corpus and embedding_id(exp["embeddings"]) == emb_id:
            return dict(exp["embeddings"])
    raise ValueError(f"no experiment uses embeddings '{emb_id}' with corpus '{corpus}'")


#: The value of ``model.hidden``, ``model.dense`` and ``model.shared_dense`` that keeps
#: the preset's (the one convention; the old markers are refused).
KEEP_PRESET = None

#: The "keep the preset" markers of the model keys before null became the one convention
#: (issue 16): refused in a config with a message naming the key, and the spelling of
#: null in :func:`mtllaws.grid.config_hash`, so that the hash of an unchanged setting,
#: and of the results computed with it, stays the same.
OLD_KEEP_MARKERS = {"hidden": 0, "shared_dense": -1}


def model_overrides(model: Mapping, *, where: str = "model") -> dict:
    """The :func:`mtllaws.models.model_config` overrides of a ``model`` config block.

    ``layers`` (when not empty), ``hidden``, ``dense`` and ``shared_dense`` override
    the preset; :data:`KEEP_PRESET` (null) keeps the preset's value. ``align`` (when not
    ``none``) is passed on.

    Parameters
    ----------
    model : mapping
        An experiment's ``model`` settings.
    where : str
        The config key of ``model``, for messages.

    Raises
    ------
    ValueError
        An old marker (``hidden: 0``, ``shared_dense: -1``); the message names the
        key and the fix.
    """
    for key, old in OLD_KEEP_MARKERS.items():
        value = model.get(key)
        if value is not None and value == old:
            raise ValueError(
                f"config key {where}.{key}: {old} no longer means 'keep the preset'; write "
                f"{key}: null (or leave it out) to keep the preset's value"
            )
    overrides = {}
    if model.get("layers"):
        overrides["layers"] = model["layers"]
    if model.get("hidden") is not KEEP_PRESET:
        overrides["hidden"] = model["hidden"]
    if model.get("dense") is not KEEP_PRESET:
        overrides["dense"] = tuple(model["dense"])
    if model.get("shared_dense") is not KEEP_PRESET:
        overrides["shared_dense"] = model["shared_dense"]
    if model.get("align", "none") != "none":  # issue 18: the alignment module
        overrides["align"] = model["align"]
    return overrides
