"""The config schema and the checks the schema cannot express: one test per rule."""

import copy
import subprocess
from pathlib import Path

import pytest
import yaml
from _snakemake import snakemake_command
from snakemake.utils import validate
from snakemake_interface_common.exceptions import WorkflowError

from mtllaws.config_check import check_config

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



def run_snakemake_on(config: dict, path, *, timeout: int = 120) -> subprocess.CompletedProcess:
    """Write ``config`` to ``path`` and run the workflow on it in ``path``'s folder."""
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        snakemake_command("--configfile", path, "--cores", "1", "--directory", path.parent),
        capture_output=True,
        text=True,
        timeout=timeout,
    )

def test_bad_config_stops_snakemake_before_any_job(tmp_path):
    config = base_config()
    config["experiments"]["e"]["train"] = {"epochs": 0}
    proc = run_snakemake_on(config, tmp_path / "bad.yaml")
    assert proc.returncode != 0
    assert "epochs" in proc.stderr + proc.stdout
    assert not (tmp_path / "resources" / "corpus").exists()


# ----------------------------------------------- issue 19 item 3: checked before any job
def corpus_config(corpus_dir, **exp):
    config = base_config()
    config["experiments"]["e"].update({"corpus": {"name": "tiny", "dir": str(corpus_dir)}, **exp})
    return validated(config)


def test_alpha_below_one_over_c_is_refused(tiny_conll_dir):
    config = corpus_config(
        tiny_conll_dir, grid=[{"n_tasks": [2], "n_tokens_per_task": [100], "alpha": [0.1, 0.9]}]
    )
    with pytest.raises(ValueError, match=r"experiments\.e\.grid: alpha \[0\.1\] below 1/c = 1/5"):
        check_config(config)


def test_pinned_conll2003_download_is_known_before_it_is_downloaded(tmp_path):
    config = base_config()
    config["experiments"]["e"]["grid"] = [
        {"n_tasks": [2], "n_tokens_per_task": [100], "alpha": [0.15]}
    ]
    with pytest.raises(ValueError, match="1/c = 1/5") as info:
        check_config(validated(config), root=tmp_path)
    assert "not downloaded yet" in str(info.value)


@pytest.mark.parametrize(
    ("exp", "needle"),
    [
        (
            {"grid": [{"n_tasks": [1, 30], "n_tokens_per_task": [10000], "alpha": [0.9]}]},
            "configuration T30_n10000_a0.9 needs T*n = 30*10000 = 300000 training tokens "
            "(disjoint slices)",
        ),
        (
            {
                "slices": "contiguous",
                "grid": [{"n_tasks": [2], "n_tokens_per_task": [2000], "alpha": [0.9]}],
            },
            "needs T*n = 2*2000 = 4000 training tokens (contiguous slices)",
        ),
        (
            {
                "slices": "shared",
                "grid": [{"n_tasks": [3], "n_tokens_per_task": [10000], "alpha": [0.9]}],
            },
            "needs n = 10000 training tokens (shared slices)",
        ),
        (
            {
                "mode": "unbalanced",
                "grid": [{"n_tasks": [3], "n_ner": [100], "n_syn": [2000], "alpha": [0.9]}],
            },
            "needs n_ner + (T-1)*n_syn = 100 + 2*2000 = 4100 training tokens",
        ),
    ],
    ids=["disjoint", "contiguous", "shared", "unbalanced"],
)
def test_grid_larger_than_the_corpus_is_refused(tiny_conll_dir, exp, needle):
    with pytest.raises(ValueError) as info:
        check_config(corpus_config(tiny_conll_dir, **exp))
    assert needle in str(info.value)
    assert "train.txt" in str(info.value)


def test_corpus_size_comes_from_the_prepared_meta_when_no_file_is_there(tmp_path):
    meta = tmp_path / "resources/corpus/gone/prepared/meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text('{"labels": ["O", "PER", "LOC"], "shapes": {"train_y": [500]}}')
    config = base_config()
    config["experiments"]["e"].update(
        corpus={"name": "gone", "url": "file:///nowhere.zip", "sha256": {"train": ""}},
        grid=[{"n_tasks": [2], "n_tokens_per_task": [300], "alpha": [0.5]}],
    )
    with pytest.raises(ValueError, match="T\\*n = 2\\*300 = 600 .* has 500 \\(from .*meta.json"):
        check_config(validated(config), root=tmp_path)
    config["experiments"]["e"]["grid"][0]["alpha"] = [0.3]
    with pytest.raises(ValueError, match="1/c = 1/3"):
        check_config(validated(config), root=tmp_path)


def test_a_fitting_grid_passes(tiny_conll_dir):
    assert set(check_config(corpus_config(tiny_conll_dir))) == {"e"}


@pytest.mark.parametrize(
    ("study", "needle"),
    [
        ({"name": "s", "features": ["n_tokens"]}, "column 'n_tokens' is not a column"),
        ({"name": "s", "features": ["n"], "fixed": {"tasks": 2}}, "column 'tasks' is not"),
        (
            {"name": "s", "features": ["n"], "fixed": {"n_tasks": 3}},
            "fixed n_tasks=3 matches no configuration of the grid; values of n_tasks: [1.0, 2.0]",
        ),
        (
            {"name": "s", "features": ["n"], "fixed": {"n_tasks": {"min": 3}}},
            "fixed n_tasks={'min': 3} matches no configuration of the grid",
        ),
        (
            {"name": "s", "features": ["n"], "fixed": {"n_tasks": {"least": 2}}},
            "a range takes the keys min and/or max",
        ),
        (
            {"name": "s", "features": ["n"], "fixed": {"n_tasks": 2, "alpha": 0.5}},
            "fixed alpha=0.5 matches no configuration of the grid; values of alpha among the "
            "configurations with n_tasks=2: [0.9]",
        ),
    ],
)
def test_studies_are_checked_against_the_grid(tmp_path, study, needle):
    config = base_config()
    config["experiments"]["e"]["studies"] = [study]
    with pytest.raises(ValueError) as info:
        check_config(validated(config), root=tmp_path)
    assert "experiments.e.studies[0] ('s')" in str(info.value)
    assert needle in str(info.value)


def test_valid_studies_pass_also_with_ami_targets(tmp_path):
    config = base_config()
    exp = config["experiments"]["e"]
    # wide enough for issue 15's minimum of 10 configurations per study
    exp["grid"] = [{"n_tasks": list(range(1, 12)), "n_tokens_per_task": list(range(100, 1001, 100)),
                    "ami": [0.3]}]
    exp["studies"] = [
        {"name": "a", "features": ["n", "ami", "test_f1_PER_mean"], "fixed": {"n_tasks": 2}},
        {"name": "b", "features": ["T"], "fixed": {"n_tokens_per_task": 100, "alpha": 0.77}},
        # a range, as regress reads it (README's compare_features example)
        {"name": "c", "features": ["n", "T"], "fixed": {"n_tasks": {"min": 2}}},
    ]
    assert set(check_config(validated(config), root=tmp_path)) == {"e"}


def test_oversized_grid_stops_snakemake_before_any_job(tiny_conll_dir, tmp_path):
    # issue 19 item 3: the reproduction (T = 30, n = 10000) failed only in simulate
    config = base_config()
    config["experiments"]["e"].update(
        corpus={"name": "tiny", "dir": str(tiny_conll_dir)},
        grid=[{"n_tasks": [30], "n_tokens_per_task": [10000], "alpha": [0.9]}],
    )
    proc = run_snakemake_on(config, tmp_path / "big.yaml")
    assert proc.returncode != 0
    assert "needs T*n = 30*10000 = 300000 training tokens" in proc.stderr + proc.stdout
    assert not (tmp_path / "resources" / "corpus").exists()


def test_unknown_key_is_located_in_one_line_before_any_job(tmp_path):
    # issue 19 item 7: the location came after a 500-900-line schema dump
    config = base_config()
    config["experiments"]["e"]["train"] = {"epoch": 3}
    proc = run_snakemake_on(config, tmp_path / "bad.yaml")
    output = proc.stderr + proc.stdout
    assert proc.returncode != 0
    assert "config key experiments.e.train: Additional properties are not allowed" in output
    assert len(output.splitlines()) < 40, output


@pytest.mark.parametrize(("key", "old"), [("hidden", 0), ("shared_dense", -1)])
def test_old_keep_the_preset_markers_are_refused_naming_key_and_fix(key, old):
    # issue 16: hidden 0, shared_dense -1 and dense null all meant "keep the preset"
    config = base_config()
    config["experiments"]["e"]["model"] = {key: old}
    config = validated(config)
    with pytest.raises(ValueError, match=rf"experiments\.e\.model\.{key}: {old} no longer") as info:
        check_config(config)
    assert f"{key}: null" in str(info.value)


def test_null_keeps_the_preset_for_every_model_override():
    from mtllaws.models import model_config
    from mtllaws.pipeline import build_model_config

    exp = validated(base_config())["experiments"]["e"]
    assert {exp["model"][k] for k in ("hidden", "dense", "shared_dense")} == {None}
    dims = {"n_tasks": 2, "n_classes": 5, "emb_dim": 300, "window": 7}
    assert build_model_config(exp, **dims) == model_config("default", **dims)
    exp["model"].update(hidden=16, dense=[8], shared_dense=0)
    cfg = build_model_config(exp, **dims)
    assert (cfg.hidden, cfg.dense, cfg.shared_dense) == (16, (8,), 0)


def test_measures_key_default_and_unknown_measure():
    config = validated(base_config())
    assert config["experiments"]["e"]["measures"] == ["ami"]
    config["experiments"]["e"]["measures"] = ["ami", "model_simm"]
    with pytest.raises(ValueError) as info:
        check_config(config)
    message = str(info.value)
    assert "experiments.e.measures: unknown relatedness measure 'model_simm'" in message
    for name in ("ami", "cov_sim", "cov_rv", "model_sim", "svd_weight", "head_cka"):
        assert name in message


@pytest.mark.parametrize("feature", ["model_sim", "model_sim_mean_mean", "Cov_RV"])
def test_study_feature_of_a_disabled_measure_is_refused(tmp_path, feature):
    config = base_config()
    exp = config["experiments"]["e"]
    exp["grid"] = [{"n_tasks": list(range(1, 12)),
                    "n_tokens_per_task": list(range(100, 1001, 100)), "alpha": [0.9]}]
    exp["studies"] = [{"name": "s", "features": ["n", feature], "fixed": {"n_tasks": 2}}]
    with pytest.raises(ValueError) as info:
        check_config(validated(config), root=tmp_path)
    message = str(info.value)
    assert "experiments.e.studies[0] ('s')" in message
    assert "experiments.e.measures does not enable" in message and "add '" in message
    exp["measures"] = ["model_sim", "cov_rv"]
    assert set(check_config(validated(config), root=tmp_path)) == {"e"}
    # a compare_features study's measures are checked the same way
    exp["studies"] = [{"name": "s", "kind": "compare_features", "features": ["n"],
                       "fixed": {"n_tasks": 2}, "measures": ["ami", "model_sim", "svd_weight"]}]
    with pytest.raises(ValueError, match="'svd_weight' is the relatedness measure 'svd_weight', "
                                         "which experiments.e.measures does not enable"):
        check_config(validated(config), root=tmp_path)


@pytest.mark.parametrize("bad", [[-1], [200], []])
def test_bad_rotation_is_refused_by_the_schema(bad):
    config = base_config()
    config["experiments"]["e"]["grid"][0]["rotation"] = bad
    with pytest.raises(WorkflowError, match="rotation"):
        validated(config)


# ----------------------------------------------------------------- issue 18: align, svd


@pytest.mark.parametrize(
    ("train", "needle"),
    [
        ({"align_phase": "frozen"}, r"train\.align_phase is frozen but train\.align_epochs is 0"),
        ({"align_epochs": 3}, r"train\.align_epochs is 3 but train\.align_phase is joint"),
        ({"align_phase": "frozen", "align_epochs": 2, "early_stopping": True},
         r"train\.align_phase frozen cannot be combined with train\.early_stopping"),
        ({"task_weights": "svd", "schedule": "sequential", "multi_model": True},
         r"train\.task_weights svd under the sequential schedule"),
        ({"svd_every": 2}, r"train\.svd_rank/svd_every/svd_level are set"),
    ],
)
def test_align_and_svd_keys_are_checked_before_any_job(train, needle):
    config = base_config()
    config["experiments"]["e"]["train"] = train
    with pytest.raises(ValueError, match=rf"experiments\.e\.{needle}"):
        check_config(validated(config))


def test_align_and_svd_values_outside_the_schema_are_named():
    # check_config runs on schema-validated configs; it names values set around the schema
    config = validated(base_config())
    config["experiments"]["e"]["model"]["align"] = "some"
    with pytest.raises(ValueError, match=r"experiments\.e\.model\.align: 'some'"):
        check_config(config)
    config = validated(base_config())
    config["experiments"]["e"]["train"].update(task_weights="svd", svd_rank=0)
    with pytest.raises(ValueError, match=r"experiments\.e\.train\.svd_rank: 0"):
        check_config(config)
    bad = base_config()
    bad["experiments"]["e"]["train"] = {"task_weights": "svd", "svd_rank": 0}
    with pytest.raises(WorkflowError):
        validated(bad)  # the schema refuses svd_rank 0 too


def test_align_and_svd_keys_reach_the_model_and_train_configs():
    from mtllaws.pipeline import build_model_config, build_train_config

    config = base_config()
    exp = config["experiments"]["e"]
    exp["model"] = {"align": "aux"}
    exp["train"] = {"align_phase": "frozen", "align_epochs": 2, "task_weights": "svd",
                    "svd_rank": 2, "svd_every": 1, "svd_level": "representation"}
    exp = validated(config)["experiments"]["e"]
    assert check_config(validated(config))
    dims = {"n_tasks": 2, "n_classes": 5, "emb_dim": 300, "window": 7}
    assert build_model_config(exp, **dims).align == "aux"
    tc = build_train_config(exp)
    assert (tc.align_phase, tc.align_epochs, tc.task_weights, tc.svd_rank, tc.svd_every,
            tc.svd_level) == ("frozen", 2, "svd", 2, 1, "representation")
    default = validated(base_config())["experiments"]["e"]
    assert build_model_config(default, **dims).align == "none"
    assert build_train_config(default).task_weights == "none"
