"""Tests of mtllaws.protocol: one key that switches on the published choices together."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from snakemake.utils import validate
from snakemake_interface_common.exceptions import WorkflowError

from mtllaws.config_check import check_config
from mtllaws.pipeline import build_model_config
from mtllaws.progress import load_config
from mtllaws.protocol import PROTOCOLS, apply_protocols

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def raw(**experiment):
    exp = {"grid": [{"n_tasks": [1], "n_tokens_per_task": [100]}], "seeds": [0], **experiment}
    return {"run": ["e"], "experiments": {"e": exp}}


def resolved(config):
    config = apply_protocols(copy.deepcopy(config))
    validate(config, SCHEMA)
    return check_config(config)["e"]


def test_published_fills_every_choice_and_the_model_has_two_shared_layers():
    exp = resolved(raw(protocol="published"))
    assert exp["slices"] == "contiguous"
    assert exp["corpus"]["cross_sentence"] is True
    assert exp["model"]["preset"] == "paper" and exp["model"]["layers"] == "LSTM_2FCs"
    assert exp["train"]["schedule"] == "sequential"
    cfg = build_model_config(exp, n_tasks=2, n_classes=5, emb_dim=300, window=7)
    assert (cfg.readout, cfg.activation, cfg.dense, cfg.shared_dense) == (
        "last", "none", (256, 128, 64), 2)


def test_default_protocol_changes_nothing():
    assert resolved(raw()) == resolved(raw(protocol="default"))
    exp = resolved(raw())
    assert exp["slices"] == "disjoint" and exp["corpus"]["cross_sentence"] is False
    assert exp["model"]["layers"] == "" and exp["train"]["schedule"] == "joint"
    cfg = build_model_config(exp, n_tasks=2, n_classes=5, emb_dim=300, window=7)
    assert cfg.shared_dense == 1  # the default preset's LSTM_1FCs


def test_explicit_keys_override_the_protocol_also_at_schema_defaults():
    exp = resolved(raw(protocol="published", slices="disjoint",
                       corpus={"cross_sentence": False}, model={"layers": "LSTM_1FCs"},
                       train={"schedule": "joint", "epochs": 7}))
    assert exp["slices"] == "disjoint" and exp["corpus"]["cross_sentence"] is False
    assert exp["model"] == {**exp["model"], "preset": "paper", "layers": "LSTM_1FCs"}
    assert exp["train"]["schedule"] == "joint" and exp["train"]["epochs"] == 7
    # dense/shared_dense still override the layers
    exp = resolved(raw(protocol="published", model={"shared_dense": 0}))
    cfg = build_model_config(exp, n_tasks=2, n_classes=5, emb_dim=300, window=7)
    assert cfg.shared_dense == 0


def test_unknown_protocol_and_layers_are_refused_with_the_key_named():
    with pytest.raises(ValueError, match=r"'experiments\.e\.protocol' is 'paper'.*published"):
        apply_protocols(raw(protocol="paper"))
    config = raw(model={"layers": "LSTM_9FCs"})
    with pytest.raises(WorkflowError, match="LSTM_9FCs"):
        validate(config, SCHEMA)
    with pytest.raises(ValueError, match=r"'experiments\.e\.model' must be a mapping"):
        apply_protocols(raw(protocol="published", model="paper"))


def test_protocol_table_matches_the_schema_choices():
    import yaml

    schema = yaml.safe_load(Path(SCHEMA).read_text())
    exp = schema["definitions"]["experiment"]["properties"]
    assert sorted(exp["protocol"]["enum"]) == sorted(PROTOCOLS)
    published = PROTOCOLS["published"]
    assert published["slices"] in exp["slices"]["enum"]
    assert published["model"]["layers"] in exp["model"]["properties"]["layers"]["enum"]


@pytest.mark.parametrize("name", ["paper_balanced", "paper_unbalanced", "paper_check"])
def test_paper_presets_run_the_published_protocol(name):
    config = load_config(
        [REPO / "config/config.yaml", REPO / f"config/experiments/{name}.yaml"], schema=SCHEMA
    )
    exp = check_config(config)[name]
    assert exp["protocol"] == "published" and exp["slices"] == "contiguous"
    assert exp["model"]["layers"] == "LSTM_2FCs" and exp["corpus"]["cross_sentence"]
    assert exp["train"]["schedule"] == "sequential"


def test_the_protocol_name_is_not_hashed_but_what_it_fills_in_is():
    from mtllaws.grid import config_hash

    published = resolved(raw(protocol="published"))
    spelled_out = resolved(raw(slices="contiguous", corpus={"cross_sentence": True},
                               model={"preset": "paper", "layers": "LSTM_2FCs"},
                               train={"schedule": "sequential"}))
    assert config_hash(published) == config_hash(spelled_out)
    assert config_hash(published) != config_hash(resolved(raw()))
