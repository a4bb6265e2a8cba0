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

from mtllaws.atomic import atomic_path, atomic_write_text

__all__ = [
    "formulas_document",
    "law_cards_latex",
    "comparison_rows",
    "comparison_table",
    "law_card",
    "law_cards_markdown",
    "latex_table",
    "markdown_table",
    "plot_study",
    "write_json",
    "write_study_outputs",
    "write_tables",
]


def write_json(obj, path) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


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
    if not (subset == "test").any():
        subset = np.where(subset == "all", "train", subset)
    for name, marker, color in (("train", "o", "tab:blue"), ("test", "^", "tab:orange")):
        m = subset == name
        r2 = result["train_r2"] if name == "train" else result["test_r2"]
        if not m.any():
            continue
        ax.scatter(
            measured[m],
            predicted[m],
            s=14,
            marker=marker,
            color=color,
            alpha=0.7,
            label=f"{name} ({m.sum()} configurations, R$^2$ = {_num(r2)})",
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


def _num(value, fmt=".3f") -> str:
    return "–" if value is None else format(value, fmt)


def _test_r2(result) -> str:
    if result.get("n_test"):
        return f"{_num(result['test_r2'])} ({result['n_test']})"
    return "CV only"


def _agreement(result) -> str:
    a = result["agreement"]
    return f"{a['n_agree']}/{a['n_seeds']}"


def markdown_table(results) -> str:
    """Markdown table with one row per study result.

    Columns: study, engine (with the law family), formula (3 significant digits),
    complexity, terms, configurations, train MSE, grouped-CV R² (mean ± std over
    repeats of the pooled out-of-fold R²), test R² of the held-out split with its
    number of test configurations ("CV only" when the study is too small for 10),
    and how many seeds agree on the structure. Skipped studies show their reason.
    """
    lines = [
        "| Study | Engine | Formula | Complexity | Terms | Configs | Train MSE | CV R² "
        "| Test R² (configs) | Seeds agree |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "skipped" in r:
            reason = r["skipped"].replace("|", "\\|")
            lines.append(
                f"| {r['study']} | {r['engine']} | skipped: {reason} |  |  |  |  |  |  |  |"
            )
            continue
        formula = r["formula_rounded"].replace("|", "\\|").replace("*", "\\*")
        engine = r.get("variant") or r["engine"]
        lines.append(
            f"| {r['study']} | {engine} | {formula} | {r['complexity']} | {r['n_terms']} "
            f"| {r.get('n_configurations', '')} | {r['train_mse']:.2e} "
            f"| {_num(r.get('cv_r2_mean'))} ± {_num(r.get('cv_r2_std'))} | {_test_r2(r)} "
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
        r"Study & Engine & Formula & Compl. & Terms & Train MSE & CV $R^2$ & Test $R^2$ "
        r"& Agree \\",
        r"\midrule",
    ]
    for r in results:
        study, engine = _tex_escape(r["study"]), _tex_escape(r.get("variant") or r["engine"])
        if "skipped" in r:
            lines.append(
                rf"{study} & {engine} & \multicolumn{{7}}{{l}}{{skipped: "
                rf"{_tex_escape(r['skipped'])}}} \\"
            )
            continue
        lines.append(
            rf"{study} & {engine} & ${r['formula_latex']}$ & {r['complexity']} & {r['n_terms']} "
            rf"& {r['train_mse']:.2e} & {_num(r.get('cv_r2_mean'))} "
            rf"& {_tex_escape(_test_r2(r))} "
            rf"& {_agreement(r)} \\"
        )
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        r"\caption{Learned formulas for F1 (constants to 3 significant digits); MSE on the "
        r"F1 scale; CV $R^2$: grouped K-fold cross-validation over configurations; test "
        r"$R^2$ on a held-out split (number of configurations), CV only below 10; Agree: seeds "
        r"whose formula has the structure shown.}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def write_tables(results, *, markdown=None, latex=None) -> None:
    """Write :func:`markdown_table` and/or :func:`latex_table` of ``results``, atomically.

    The Markdown file also holds, per study, the comparison of engines and law
    families and the law card (:func:`law_cards_markdown`).
    """
    if markdown is not None:
        text = markdown_table(results)
        cards = law_cards_markdown(results)
        if cards:
            text += "\n# Comparison and law card per study\n\n" + cards
        atomic_write_text(markdown, text)
    if latex is not None:
        atomic_write_text(latex, latex_table(results) + law_cards_latex(results))


# ----------------------------------------------------------- comparisons
def _by_study(results) -> dict:
    out: dict[str, list] = {}
    for r in results:
        out.setdefault(r["study"], []).append(r)
    return out


def comparison_rows(results) -> list[dict]:
    """One row per engine setting or law family of one study's results (JSON-ready).

    Each row: ``name``, ``in_sample_r2``, ``cv_r2_mean``, ``cv_r2_std``, ``split_r2``,
    ``split_n_test``, ``extrapolation`` (column -> ``r2, rmse, test_std,
    threshold``), ``structure_frequency``.
    """
    rows = []
    for r in results:
        for v in r.get("variants", []):
            if "error" in v:
                continue
            split = v.get("split") or {}
            boot = v.get("bootstrap") or {}
            rows.append(
                {
                    "name": v["name"],
                    "in_sample_r2": v["in_sample_r2"],
                    "cv_r2_mean": v["cv"]["r2_mean"],
                    "cv_r2_std": v["cv"]["r2_std"],
                    "split_r2": split.get("r2"),
                    "split_n_test": split.get("n_test"),
                    "extrapolation": v["extrapolation"],
                    "structure_frequency": boot.get("structure_frequency"),
                }
            )
    return rows


def _winner(rows, key) -> tuple[str, float] | None:
    scored = [(row["name"], key(row)) for row in rows if key(row) is not None]
    return max(scored, key=lambda item: item[1]) if scored else None


def comparison_table(results) -> str:
    """Markdown: engine/family × in-sample, grouped-CV, split and extrapolation R².

    ``results`` are one study's results (one per engine). Each extrapolation column
    shows R² with RMSE and the test set's own standard deviation of F1, so that a
    small R² on a flat region can be read. The last lines name the winner in range
    (grouped-CV R²) and out of range (per axis, and the mean over axes).
    """
    rows = comparison_rows(results)
    if not rows:
        return ""
    axes = list(rows[0]["extrapolation"])
    head = "| Engine / family | In-sample R² | CV R² | Split R² |"
    rule = "|---|---:|---:|---:|"
    for axis in axes:
        head += f" Extrap. {axis} > {rows[0]['extrapolation'][axis]['threshold']:g} |"
        rule += "---:|"
    lines = [head, rule]
    for row in rows:
        split = "CV only" if row["split_r2"] is None else f"{row['split_r2']:.3f}"
        line = (
            f"| {row['name']} | {_num(row['in_sample_r2'])} "
            f"| {_num(row['cv_r2_mean'])} ± {_num(row['cv_r2_std'])} | {split} |"
        )
        for axis in axes:
            e = row["extrapolation"][axis]
            line += f" {_num(e['r2'])} (RMSE {_num(e['rmse'])}, sd {_num(e['test_std'])}) |"
        lines.append(line)
    best = _winner(rows, lambda row: row["cv_r2_mean"])
    notes = []
    if best:
        notes.append(f"In range: **{best[0]}** wins (grouped-CV R² {best[1]:.3f}).")
    for axis in axes:
        win = _winner(rows, lambda row, a=axis: row["extrapolation"][a]["r2"])
        if win:
            notes.append(f"Out of range in {axis}: **{win[0]}** wins (R² {win[1]:.3f}).")
    if axes:
        win = _winner(
            rows,
            lambda row: (
                None
                if any(row["extrapolation"][a]["r2"] is None for a in axes)
                else float(np.mean([row["extrapolation"][a]["r2"] for a in axes]))
            ),
        )
        if win:
            notes.append(f"Out of range overall: **{win[0]}** wins (mean R² {win[1]:.3f}).")
    return "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"


def law_card(results) -> dict | None:
    """The law card of one study: its best variant (grouped-CV R²) over all engines.

    Returns
    -------
    dict or None
        ``study, engine, variant, formula`` (full-data fit, rounded), ``terms``,
        ``cv_r2_mean, cv_r2_std``, ``validation`` (what was reported and why),
        ``extrapolation`` (column -> R², RMSE, test sd), ``structure_frequency``,
        ``bootstrap`` (resamples, settings) and ``coefficients`` (name ->
        estimate and 95 % interval); ``relatedness`` (a ``compare_features`` set: the
        measure, column and symbol that fill the law families' ``AMI``); None when
        every engine skipped the study.
    """
    best = None
    for r in results:
        for v in r.get("variants", []):
            score = (v.get("cv") or {}).get("r2_mean")
            if score is not None and (best is None or score > best[2]):
                best = (r, v, score)
    if best is None:
        return None
    r, v, score = best
    boot = v.get("bootstrap") or {}
    formula = r["formula_rounded"] if r.get("variant") == v["name"] else v["structure"]
    card = {
        "study": r["study"],
        "engine": r["engine"],
        "variant": v["name"],
        "formula": formula,
        "terms": list(v["coefficients"]),
        "cv_r2_mean": score,
        "cv_r2_std": v["cv"]["r2_std"],
        "validation": r["validation"]["note"],
        "extrapolation": v["extrapolation"],
        "structure_frequency": boot.get("structure_frequency"),
        "bootstrap": {k: boot.get(k) for k in ("n_resamples", "n_failed", "params", "structure")},
        "coefficients": boot.get("coefficients")
        or {k: {"estimate": c} for k, c in v["coefficients"].items()},
    }
    if (r.get("compare") or {}).get("relatedness"):
        card["relatedness"] = r["compare"]["relatedness"]
    return card


def _study_cards(results):
    """``(study, its results, its law card)`` of every study that has a law card."""
    for study, group in _by_study(results).items():
        card = law_card(group)
        if card is not None:
            yield study, group, card


def law_cards_markdown(results) -> str:
    """Per study: the comparison table and the law card, as Markdown sections."""
    parts = []
    for study, group, card in _study_cards(results):
        parts.append(f"## {study}\n\n{comparison_table(group)}")
        freq = card["structure_frequency"]
        boot = card["bootstrap"]
        lines = [
            f"**Law card** ({card['variant']}): `{card['formula']}`",
            "",
            f"- validation: {card['validation']}",
            f"- grouped-CV R²: {_num(card['cv_r2_mean'])} ± {_num(card['cv_r2_std'])}",
        ]
        rel = card.get("relatedness")
        if rel:
            lines.append(
                f"- relatedness: `{rel['column']}` ({rel['measure']}) fills the law families' "
                f"`{rel['slot']}` as `{rel['symbol']}`"
            )
        for axis, e in card["extrapolation"].items():
            lines.append(
                f"- extrapolation {axis} > {e['threshold']:g}: R² {_num(e['r2'])}, "
                f"RMSE {_num(e['rmse'])}, test sd {_num(e['test_std'])} "
                f"({e['n_train']} → {e['n_test']} configurations)"
            )
        if boot.get("n_resamples"):
            lines.append(
                f"- bootstrap: {boot['n_resamples']} resamples of configurations "
                f"(settings {boot['params'] or 'as fitted'}); structure recurs in "
                f"{_num(freq, '.0%')}"
            )
        lines += ["", "| Term / parameter | Estimate | 95 % interval | Resamples |",
                  "|---|---:|---:|---:|"]  # fmt: skip
        for name, c in card["coefficients"].items():
            interval = f"[{c['lo']:.4g}, {c['hi']:.4g}]" if "lo" in c else "–"
            lines.append(f"| {name} | {c['estimate']:.4g} | {interval} | {c.get('n', 0)} |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def law_cards_latex(results) -> str:
    """One LaTeX table per study: its law card (formula, scores, coefficient intervals)."""
    parts = []
    for study, _group, card in _study_cards(results):
        rows = [
            rf"Formula & \multicolumn{{3}}{{p{{0.6\linewidth}}}}"
            rf"{{\texttt{{{_tex_escape(card['formula'])}}}}} \\",
            rf"Grouped-CV $R^2$ & \multicolumn{{3}}{{l}}{{{_num(card['cv_r2_mean'])} $\pm$ "
            rf"{_num(card['cv_r2_std'])}}} \\",
        ]
        for axis, e in card["extrapolation"].items():
            rows.append(
                rf"Extrapolation {_tex_escape(axis)} $>$ {e['threshold']:g} & "
                rf"\multicolumn{{3}}{{l}}{{$R^2$ {_num(e['r2'])}, RMSE {_num(e['rmse'])}, "
                rf"test sd {_num(e['test_std'])}}} \\"
            )
        rows.append(
            rf"Structure frequency & \multicolumn{{3}}{{l}}"
            rf"{{{_num(card['structure_frequency'], '.0%')} of "
            rf"{card['bootstrap'].get('n_resamples') or 0} resamples}} \\"
        )
        rows.append(r"\midrule Term & Estimate & 2.5 \% & 97.5 \% \\")
        for name, c in card["coefficients"].items():
            lo = f"{c['lo']:.4g}" if "lo" in c else "--"
            hi = f"{c['hi']:.4g}" if "hi" in c else "--"
            rows.append(rf"\texttt{{{_tex_escape(name)}}} & {c['estimate']:.4g} & {lo} & {hi} \\")
        parts += [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            r"\begin{tabular}{lrrr}",
            r"\toprule",
            *rows,
            r"\bottomrule",
            r"\end{tabular}",
            rf"\caption{{Law card of study {_tex_escape(study)}: {_tex_escape(card['variant'])}; "
            rf"{_tex_escape(card['validation'])}.}}",
            r"\end{table}",
        ]
    return "\n".join(parts) + ("\n" if parts else "")


def formulas_document(results) -> dict:
    """The JSON of ``formulas.json``: every result, and per study its comparison and law card."""
    return {
        "results": list(results),
        "studies": {
            study: {"comparison": comparison_rows(group), "card": law_card(group)}
            for study, group in _by_study(results).items()
        },
    }
