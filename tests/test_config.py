"""The config schema and the checks the schema cannot express: one test per rule."""

import copy
import subprocess
from pathlib import Path

import pytest
import yaml
from _snakemake import snakemake_command
from snakemake.utils import validate
from snakemake_interface_common.exceptions import WorkflowError

from mtllaws.pipeline import check_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def base_config():
    return {
        "run": ["e"],
        "experiments": {
            "e": {
                "grid": [{"n_tasks": [1, 2], "n_tokens_per_task": [100], "alpha": [0.9]}],
                "seeds": [0],
            }
        },
    }


def validated(config):
    config = copy.deepcopy(config)
    validate(config, SCHEMA)
    return config


def test_defaults_are_filled():
    config = validated(base_config())
    exp = config["experiments"]["e"]
    assert exp["mode"] == "balanced"
    assert exp["train"]["epochs"] == 100
    assert exp["train"]["batch_size"] == 100
    assert exp["model"]["preset"] == "default"
    assert exp["corpus"]["window"] == 3
    assert exp["grid"][0]["ami"] is None
    assert config["regress"]["engines"] == ["gplearn", "sparse", "law"]
    assert config["regress"]["bootstrap"] == 100 and config["regress"]["cv_repeats"] == 2


def test_schema_engine_default_names_registered_engines():
    from mtllaws.regress import ENGINES

    config = validated(base_config())
    assert set(config["regress"]["engines"]) <= set(ENGINES)


def test_every_schema_key_has_description_and_default():
    schema = yaml.safe_load(Path(SCHEMA).read_text())
    missing = []

    def walk(node, where):
        for key, sub in (node.get("properties") or {}).items():
            if "description" not in sub or "default" not in sub:
                missing.append(f"{where}.{key}")
            walk(sub, f"{where}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{where}[]")

    walk(schema, "config")
    for name, definition in schema["definitions"].items():
        walk(definition, f"definitions.{name}")
    assert missing == []


BAD = [
    ("unknown top-level key", lambda c: c.update(epochs=3), "epochs"),
    ("unknown experiment key", lambda c: c["experiments"]["e"].update(epoch=3), "epoch"),
    ("mode enum", lambda c: c["experiments"]["e"].update(mode="half"), "half"),
    ("slices enum", lambda c: c["experiments"]["e"].update(slices="overlap"), "overlap"),
    ("seeds non-empty", lambda c: c["experiments"]["e"].update(seeds=[]), "seeds"),
    ("seeds >= 0", lambda c: c["experiments"]["e"].update(seeds=[-1]), "-1"),
    ("n_tasks >= 1", lambda c: c["experiments"]["e"]["grid"][0].update(n_tasks=[0]), "0"),
    ("alpha <= 1", lambda c: c["experiments"]["e"]["grid"][0].update(alpha=[1.2]), "1.2"),
    ("alpha > 0", lambda c: c["experiments"]["e"]["grid"][0].update(alpha=[0]), "0"),
    ("unknown grid axis", lambda c: c["experiments"]["e"]["grid"][0].update(T=[2]), "T"),
    ("experiment name pattern", lambda c: c["experiments"].update({"a-b": {}}), "a-b"),
    ("corpus name pattern", lambda c: c["experiments"]["e"].update(corpus={"name": "a/b"}), "a/b"),
    ("window >= 0", lambda c: c["experiments"]["e"].update(corpus={"window": -1}), "-1"),
    ("preset enum", lambda c: c["experiments"]["e"].update(model={"preset": "big"}), "big"),
    (
        "dense <= 3 layers",
        lambda c: c["experiments"]["e"].update(model={"dense": [1, 2, 3, 4]}),
        "dense",
    ),
    ("shared_dense <= 3", lambda c: c["experiments"]["e"].update(model={"shared_dense": 4}), "4"),
    ("epochs >= 1", lambda c: c["experiments"]["e"].update(train={"epochs": 0}), "0"),
    ("device enum", lambda c: c["experiments"]["e"].update(train={"device": "tpu"}), "tpu"),
    ("schedule enum", lambda c: c["experiments"]["e"].update(train={"schedule": "x"}), "'x'"),
    (
        "study needs features",
        lambda c: c["experiments"]["e"].update(studies=[{"name": "s"}]),
        "features",
    ),
    ("run is a list", lambda c: c.update(run="e"), "'e'"),
]


@pytest.mark.parametrize(("name", "mutate", "needle"), BAD, ids=[b[0] for b in BAD])
def test_schema_rejects(name, mutate, needle):
    config = base_config()
    mutate(config)
    with pytest.raises(WorkflowError) as info:
        validate(config, SCHEMA)
    assert needle in str(info.value)


def test_unknown_engine_is_refused_by_the_config_check():
    # The schema takes any name; check_config compares it with mtllaws.regress.ENGINES.
    config = validated(base_config())
    config["regress"]["engines"] = ["sparse", "pysr"]
    with pytest.raises(ValueError, match=r"regress.engines names unknown engine\(s\) \['pysr'\]"):
        check_config(config)


def test_run_must_name_defined_experiments():
    config = validated(base_config())
    config["run"] = ["e", "missing"]
    with pytest.raises(ValueError, match=r"'run' names experiment\(s\) \['missing'\]"):
        check_config(config)


def test_experiments_sharing_a_corpus_name_must_agree():
    config = base_config()
    config["experiments"]["f"] = copy.deepcopy(config["experiments"]["e"])
    config["experiments"]["f"]["corpus"] = {"window": 2}
    config["run"] = ["e", "f"]
    config = validated(config)
    with pytest.raises(ValueError, match="share the name 'conll2003' but differ"):
        check_config(config)


def test_bad_config_stops_snakemake_before_any_job(tmp_path):
    config = base_config()
    config["experiments"]["e"]["train"] = {"epochs": 0}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        snakemake_command("--configfile", path, "--cores", "1", "--directory", tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "epochs" in proc.stderr + proc.stdout
    assert not (tmp_path / "resources" / "corpus").exists()
