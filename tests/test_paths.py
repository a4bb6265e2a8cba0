"""Tests of mtllaws.paths: the one registry of the workflow's output paths."""

import sys
from pathlib import Path

import pytest

from mtllaws import paths

REPO = Path(__file__).resolve().parents[1]


def test_figure_names_are_the_figures_module_names():
    from mtllaws import figures

    assert paths.FIGURES == figures.FIGURES
    assert paths.FIGURE_FORMATS == figures.FORMATS
    assert paths.figure_paths("results/{experiment}/figures") == figures.figure_paths(
        "results/{experiment}/figures"
    )


def test_pack_outputs_and_logs_fill_the_templates(tmp_path):
    outputs = paths.pack_outputs(tmp_path, "e", "T2_n100_s0")
    assert outputs == {
        "simulate": tmp_path / "results/e/simulate/T2_n100_s0.parquet",
        "model": tmp_path / "results/e/train/T2_n100_s0.pt",
        "train": tmp_path / "results/e/train/T2_n100_s0.parquet",
        "evaluate": tmp_path / "results/e/evaluate/T2_n100_s0.parquet",
    }
    assert paths.pack_log(tmp_path, "e", "train", "P") == tmp_path / "logs/e/train/P.log"
    with pytest.raises(ValueError, match="not a per-pack job"):
        paths.pack_log(tmp_path, "e", "aggregate", "P")


def test_every_experiment_file_is_under_the_experiment_folder():
    for name, template in paths.EXPERIMENT_FILES.items():
        assert template.startswith("results/{experiment}/"), name
    for template in paths.PACK_OUTPUTS.values():
        assert template.startswith("results/{experiment}/")


def test_the_rules_spell_no_results_path_and_parse_without_matplotlib():
    # The rules build every results/, logs/ and resources/ path from mtllaws.paths.
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for root in ('"results/', '"logs/', '"resources/'):
            assert root not in text, (smk.name, root)
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert "mtllaws.figures" not in common and "matplotlib" not in common
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", "import sys, mtllaws.paths; print('matplotlib' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "False"
