"""The quarterly report as a person reads it: HTML (template ``templates/quarterly_report.html``) and its charts.

Pure rendering of a :class:`analytics.quarterly.QuarterlyExport` (the tables are built there); no Streamlit.
"""
from __future__ import annotations

import html
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .definitions import SMALL_CELL_MAX, SPEC_VERSION
from .outcomes import METRICS

if TYPE_CHECKING:  # the tables' module imports this one to write the files
    from .quarterly import QuarterlyExport

__all__ = ["html_report", "TEMPLATE"]

TEMPLATE = Path(__file__).with_name("templates") / "quarterly_report.html"

_PERCENT_COLUMNS = {"rate", "ci_low", "ci_high", "benchmark_rate", "difference", "diff_ci_low", "diff_ci_high"}
#: The board report leads with estimates and intervals and carries no p-values (docs/methods.md).
_P_COLUMNS = ("p_value", "p_holm", "test")


def _table_html(frame: pd.DataFrame, columns=None) -> str:
    shown = frame[columns] if columns else frame
    shown = shown.apply(lambda c: c.map(_pct if c.name in _PERCENT_COLUMNS else _fmt))
    return shown.to_html(index=False, escape=True, na_rep="", border=0)


def _pct(v):
    if isinstance(v, (float, np.floating, int, np.integer)) and not isinstance(v, bool):
        return "" if np.isnan(v) else f"{v:.1%}"
    return _fmt(v)


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.3f}" if abs(v) < 1 else f"{v:.1f}"
    return v


def _charts(export: QuarterlyExport) -> str:
    import plotly.graph_objects as go

    palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00"]
    own = export.summary[(export.summary["dimension"] == "overall") & (export.summary["benchmark_id"] == "")]
    shown = own[pd.to_numeric(own["rate"], errors="coerce").notna()]
    fig = go.Figure()
    rate = pd.to_numeric(shown["rate"]).to_numpy(dtype=float)
    low = pd.to_numeric(shown["ci_low"], errors="coerce").to_numpy(dtype=float)
    high = pd.to_numeric(shown["ci_high"], errors="coerce").to_numpy(dtype=float)
    fig.add_trace(go.Scatter(x=rate, y=shown["label"], mode="markers", name="This clinic (95% CI)",
                             marker=dict(color=palette[0], size=11),
                             error_x=dict(type="data", symmetric=False, array=np.nan_to_num(high - rate),
                                          arrayminus=np.nan_to_num(rate - low))))
    bench = export.summary[(export.summary["dimension"] == "overall") & (export.summary["benchmark_id"] != "")]
    for comparable, symbol, color, name in ((True, "diamond", palette[1], "Published, like for like"),
                                            (False, "diamond-open", palette[4], "Published, not like for like")):
        part = bench[bench["comparable"] == comparable]
        fig.add_trace(go.Scatter(x=part["benchmark_rate"], y=part["label"], mode="markers", name=name,
                                 marker=dict(symbol=symbol, size=10, color=color), text=part["benchmark_id"],
                                 hovertemplate="%{text}: %{x:.1%}<extra></extra>"))
    fig.update_layout(xaxis=dict(title="Share of patients", tickformat=".0%", range=[0, 1]),
                      yaxis=dict(autorange="reversed"), height=380, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=1.12), template="plotly_white")
    parts = [fig.to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False})]
    trend = export.trend
    fig = go.Figure()
    for i, metric in enumerate(("response", "remission", "si_resolution")):
        t = trend[trend["metric"] == metric]
        y = pd.to_numeric(t["rate"], errors="coerce")
        fig.add_trace(go.Scatter(x=t["quarter"], y=y, mode="lines+markers", name=METRICS[metric],
                                 line=dict(color=palette[i]), connectgaps=False))
    fig.update_layout(xaxis=dict(title="Quarter of treatment start", type="category"),
                      yaxis=dict(title="Rate", tickformat=".0%", range=[0, 1]), height=340,
                      margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.15),
                      template="plotly_white")
    parts.append(fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))
    return parts



def html_report(export: QuarterlyExport) -> str:
    """The self-contained HTML report of ``export`` (prints cleanly)."""
    e, d = export, export.definitions
    esc = html.escape
    notice_text = e.manifest.get("notice", "")
    notice = f'<p class="notice">{esc(notice_text)}: not for release outside the clinic.</p>' \
        if not e.suppression else ""
    forest, trend = _charts(e)
    own = e.summary[e.summary["benchmark_id"] == ""]
    bench = e.summary[(e.summary["dimension"] == "overall") & (e.summary["benchmark_id"] != "")]
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        notice=notice, quarter=esc(e.quarter), quarter_start=esc(e.manifest["parameters"]["quarter_start"]),
        quarter_end=esc(e.manifest["parameters"]["quarter_end"]), spec_version=SPEC_VERSION,
        generated_at=esc(e.manifest["generated_at"]),
        suppression_note=f"Small cells suppressed (counts 1-{SMALL_CELL_MAX} and values that would reveal them)."
        if e.suppression else "",
        methods=esc(d.describe()), forest_chart=forest, trend_chart=trend,
        outcomes_table=_table_html(own, ["dimension", "stratum", "label", "n", "events", "rate", "ci_low", "ci_high",
                                         "suppressed"]),
        comparison_table=_table_html(bench, ["benchmark_id", "label", "rate", "ci_low", "ci_high", "benchmark_rate",
                                             "published_uncertainty", "difference", "diff_ci_low", "diff_ci_high",
                                             "comparable", "reason"]),
        trend_table=_table_html(e.trend, ["quarter", "label", "n", "events", "rate", "ci_low", "ci_high",
                                          "suppressed"]),
        safety_table=_table_html(e.safety, [c for c in e.safety.columns if c not in _P_COLUMNS]),
        completeness_table=_table_html(e.completeness), quality_table=_table_html(e.quality),
        definitions_table=_table_html(e.definitions_table))
