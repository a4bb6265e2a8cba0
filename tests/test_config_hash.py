"""The config hash stays stable when options with neutral defaults are added (issue 16).

The default experiment ``quick`` of session 4 (``results/quick/runs.parquet``, before
issues 17, 18 and 20 added settings) was filed under the hash ``d026684b19df``. The
experiment is written out here, as it stood then, so that a later redesign of
``config/config.yaml`` does not move this test, and goes through the workflow's own path
(``common.smk``): protocol, schema defaults, config checks, model settings, hash.
"""

from pathlib import Path

import pytest
import yaml

from mtllaws.config_check import check_config, validate_config
from mtllaws.grid import HASH_NEUTRAL, config_hash, model_settings
from mtllaws.protocol import apply_protocols

SCHEMA = str(Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml")

#: The default config's ``quick`` experiment of session 4 (its hash: ``d026684b19df``).
QUICK = """
run: [quick]
experiments:
  quick:
    mode: balanced
    protocol: published
    grid:
      - n_tasks: [1]
        n_tokens_per_task: [1000, 2000, 5000]
      - n_tasks: [2]
        n_tokens_per_task: [5000]
        alpha: [0.2, 1.0]
    seeds: [0, 1, 2]
    pack_seeds: true
    corpus:
      name: conll2003_cross
      dir: ""
    train:
      epochs: 30
      lr: 0.003
"""
QUICK_HASH = "d026684b19df"

#: Every setting the hash covered when ``d026684b19df`` was computed.
HASHED_BEFORE = {
    "mode", "slices", "corpus", "embeddings", "evaluate", "model", "train",
    "corpus.cross_sentence", "corpus.dir", "corpus.name", "corpus.sha256", "corpus.url",
    "corpus.window",
    "embeddings.bucket", "embeddings.dim", "embeddings.epochs", "embeddings.maxn",
    "embeddings.min_count", "embeddings.minn", "embeddings.negative",
    "embeddings.pretrained", "embeddings.sample", "embeddings.seed", "embeddings.sg",
    "embeddings.sha256", "embeddings.size", "embeddings.url", "embeddings.window",
    "evaluate.all_tasks",
    "model.dense", "model.hidden", "model.layers", "model.preset", "model.shared_dense",
    "train.batch_size", "train.checkpoint_every", "train.device", "train.early_stopping",
    "train.epochs", "train.lr", "train.multi_model", "train.patience", "train.schedule",
    "train.tf32", "train.threads",
}


def _quick(tmp_path) -> dict:
    """The validated ``quick`` experiment, as ``common.smk`` builds ``EXPERIMENTS``."""
    config = yaml.safe_load(QUICK)
    apply_protocols(config)
    validate_config(config, SCHEMA)
    return check_config(config, root=tmp_path)["quick"]


def _paths(settings) -> dict:
    """``"<section>.<key>"`` (and top-level ``"<key>"``) -> value of a settings mapping."""
    paths = {}
    for key, value in settings.items():
        paths[key] = value
        if isinstance(value, dict):
            paths.update({f"{key}.{k}": v for k, v in value.items()})
    return paths


def test_default_quick_keeps_its_pre_refactor_hash(tmp_path):
    assert config_hash(_quick(tmp_path)) == QUICK_HASH


def test_every_new_defaulted_setting_is_registered_neutral(tmp_path):
    # a key the schema fills in that the old hash did not cover must be registered in
    # HASH_NEUTRAL, and its default must be the registered neutral value
    paths = _paths(model_settings(_quick(tmp_path)))
    unregistered = sorted(set(paths) - HASHED_BEFORE - set(HASH_NEUTRAL))
    assert not unregistered, (
        f"settings {unregistered} have schema defaults but are not in "
        "mtllaws.grid.HASH_NEUTRAL; register their neutral value there"
    )
    wrong = {p: paths[p] for p in HASH_NEUTRAL if p in paths and paths[p] != HASH_NEUTRAL[p]}
    assert not wrong, f"schema defaults differ from HASH_NEUTRAL: {wrong}"
    assert set(HASH_NEUTRAL) <= set(paths), "HASH_NEUTRAL names a setting with no default"


@pytest.mark.parametrize("path", sorted(HASH_NEUTRAL))
def test_a_non_neutral_value_changes_the_hash(tmp_path, path):
    exp = _quick(tmp_path)
    section, key = path.split(".")
    changed = {**exp, section: {**exp[section], key: "not-neutral"}}
    assert config_hash(changed) != QUICK_HASH


def test_non_neutral_values_of_the_new_options_change_the_hash(tmp_path):
    exp = _quick(tmp_path)
    aligned = {**exp, "model": {**exp["model"], "align": "aux"}}
    warmed = {**exp, "train": {**exp["train"], "align_epochs": 3}}
    ranked = {**exp, "train": {**exp["train"], "svd_rank": 0}}
    hashes = {config_hash(e) for e in (aligned, warmed, ranked)}
    assert len(hashes) == 3 and QUICK_HASH not in hashes
