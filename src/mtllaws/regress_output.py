"""Outputs of the symbolic-regression stage: JSON, plots and tables of study results.

Every file is written atomically (:mod:`mtllaws.atomic`). The functions take the dicts returned by
:func:`mtllaws.regress.run_study`; they are re-exported by :mod:`mtllaws.regress`.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np

from mtllaws.atomic import atomic_path, atomic_write

__all__ = [
    "latex_table",
    "markdown_table",
    "plot_study",
    "write_json",
    "write_study_outputs",
    "write_tables",
]


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def write_json(obj, path) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    _atomic_write_bytes(Path(path), (json.dumps(obj, indent=2) + "\n").encode())


def write_study_outputs(result: dict, out_dir) -> dict:
    """Write ``<study>.json`` and, unless the study was skipped, ``<study>.png`` and ``.pdf``.

    Returns
    -------
    dict
        Output kind -> path.
    """
    out_dir = Path(out_dir)
    paths = {"json": out_dir / f"{result['study']}.json"}
    write_json(result, paths["json"])
    if "skipped" not in result:
        paths.update(plot_study(result, out_dir / result["study"]))
    return paths


def plot_study(result: dict, path) -> dict:
    """Plot predicted against measured F1 with the identity line; writes PNG and PDF.

    Parameters
    ----------
    result : dict
        A :func:`run_study` result.
    path : str or os.PathLike
        Output path without suffix (a suffix is replaced).

    Returns
    -------
    dict
        ``{"png": Path, "pdf": Path}``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    pred = result["predictions"]
    measured = np.asarray(pred["measured"], dtype=float)
    predicted = np.asarray(pred["predicted"], dtype=float)
    subset = np.asarray(pred["subset"])
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, marker, color in (("train", "o", "tab:blue"), ("test", "^", "tab:orange")):
        m = subset == name
        r2 = result["train_r2"] if name == "train" else result["test_r2"]
        ax.scatter(
            measured[m],
            predicted[m],
            s=14,
            marker=marker,
            color=color,
            alpha=0.7,
            label=f"{name} ({m.sum()} rows, R$^2$ = {r2:.3f})",
        )
    lo = float(min(measured.min(), predicted.min()))
    hi = float(max(measured.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="identity")
    ax.set_xlabel("measured F1")
    ax.set_ylabel("predicted F1")
    lines = textwrap.wrap(result["formula_rounded"], 64, break_on_hyphens=False)
    if len(lines) > 3:
        lines = [*lines[:2], lines[2][:60] + " ..."]
    ax.set_title("\n".join([f"{result['study']} ({result['engine']})", *lines]), fontsize=8)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    path = Path(path)
    out = {}
    for fmt in ("png", "pdf"):
        target = path.with_suffix(f".{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150)
        out[fmt] = target
    plt.close(fig)
    return out


def _agreement(result) -> str:
    a = result["agreement"]
    return f"{a['n_agree']}/{a['n_seeds']}"


def markdown_table(results) -> str:
    """Markdown table with one row per study result.

    Columns: study, engine, formula (3 significant digits), complexity, terms,
    train and test MSE, test R², and how many seeds agree on the structure.
    Skipped studies show their reason.
    """
    lines = [
        "| Study | Engine | Formula | Complexity | Terms | Train MSE | Test MSE | Test R² "
        "| Seeds agree |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "skipped" in r:
            reason = r["skipped"].replace("|", "\\|")
            lines.append(f"| {r['study']} | {r['engine']} | skipped: {reason} |  |  |  |  |  |  |")
            continue
        formula = r["formula_rounded"].replace("|", "\\|").replace("*", "\\*")
        lines.append(
            f"| {r['study']} | {r['engine']} | {formula} | {r['complexity']} | {r['n_terms']} "
            f"| {r['train_mse']:.2e} | {r['test_mse']:.2e} | {r['test_r2']:.3f} "
            f"| {_agreement(r)} |"
        )
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    return re.sub(r"([_%&#$])", r"\\\1", text)


def latex_table(results) -> str:
    """LaTeX ``table`` (booktabs) with the same columns as :func:`markdown_table`."""
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{llp{0.42\linewidth}rrrrrr}",
        r"\toprule",
        r"Study & Engine & Formula & Compl. & Terms & Train MSE & Test MSE & Test $R^2$ "
        r"& Agree \\",
        r"\midrule",
    ]
    for r in results:
        study, engine = _tex_escape(r["study"]), _tex_escape(r["engine"])
        if "skipped" in r:
            lines.append(
                rf"{study} & {engine} & \multicolumn{{7}}{{l}}{{skipped: "
                rf"{_tex_escape(r['skipped'])}}} \\"
            )
            continue
        lines.append(
            rf"{study} & {engine} & ${r['formula_latex']}$ & {r['complexity']} & {r['n_terms']} "
            rf"& {r['train_mse']:.2e} & {r['test_mse']:.2e} & {r['test_r2']:.3f} "
            rf"& {_agreement(r)} \\"
        )
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        r"\caption{Learned formulas for F1 (constants to 3 significant digits); MSE on the "
        r"F1 scale; Agree: seeds whose formula has the structure shown.}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def write_tables(results, *, markdown=None, latex=None) -> None:
    """Write :func:`markdown_table` and/or :func:`latex_table` of ``results``, atomically."""
    if markdown is not None:
        _atomic_write_bytes(Path(markdown), markdown_table(results).encode())
    if latex is not None:
        _atomic_write_bytes(Path(latex), latex_table(results).encode())
