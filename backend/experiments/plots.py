"""Vega-Lite specs of the comparison plots, and their PNG, SVG and CSV exports.

Pure functions of already-aggregated rows: no database access, so the page, the
downloads, the share pages and the tests all draw the same spec. Every spec carries
its data inline. Accuracies come in as fractions (0–1) and are shown as percent.
"""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

import altair as alt
import vl_convert

# Checking a spec against the Vega-Lite schema costs more than building it (half a
# second for a 400-row plot), so pages skip it; the tests turn it on for every plot.
VALIDATE_SPECS = False

NO_RUNS = "no finished runs yet"
PERCENT_AXIS = "~%"
PERCENT_VALUE = ".1%"
RUN_CURVE_METRICS = ("test_accuracy", "test_loss", "train_loss", "lr")
# vl-convert has no page to take a "container" width from.
RENDER_WIDTH = 640


def accuracy_vs_budget(
    points: list[dict],
    full: dict | None = None,
    *,
    policies: Sequence[str] | None = None,
) -> dict:
    """Final test accuracy against data budget, one line and error band per policy.

    ``points``: ``{"policy", "budget", "mean", "low", "high", "n"}``; ``full``:
    ``{"mean", "low", "high"}`` of the full-data runs, drawn as a labelled rule.
    """
    values = [_with_ci(point) for point in points]
    title = _title("Test accuracy vs data budget", values)
    budgets = sorted({point["budget"] for point in values})
    x = alt.X(
        "budget:Q",
        title="data budget (share of the training set per round)",
        scale=alt.Scale(type="log", nice=False, domain=_log_padded(budgets)),
        axis=alt.Axis(format=PERCENT_AXIS, values=budgets or alt.Undefined),
    )
    y = _accuracy_y()
    color = _policy_color(values, policies)
    base = alt.Chart(alt.Data(values=values)).encode(x=x, color=color)
    layers = [
        base.mark_area(opacity=0.18).encode(y=alt.Y("band_low:Q"), y2="band_high:Q"),
        base.mark_line().encode(y=y),
        base.mark_point(filled=True, size=60).encode(
            y=y,
            tooltip=[
                alt.Tooltip("policy:N"),
                alt.Tooltip("budget:Q", format=PERCENT_AXIS),
                alt.Tooltip("mean:Q", title="mean accuracy", format=PERCENT_VALUE),
                alt.Tooltip("ci:N", title="95 % CI"),
                alt.Tooltip("n:Q", title="seeds"),
            ],
        ),
    ]
    if full is not None:
        layers += _reference_line(
            {**_with_ci(full), "label": "full data"},
            x_at=budgets[-1] if budgets else None,
            band=True,
        )
    return _finish(alt.layer(*layers), title)


def accuracy_vs_time(
    rows: list[dict],
    target: float | None = None,
    budget: float | None = None,
    *,
    policies: Sequence[str] | None = None,
) -> dict:
    """Test accuracy against wall-clock seconds (selection + training), one line per policy.

    ``rows``: ``{"policy", "round", "seconds", "mean", "low", "high", "n"}`` where
    ``seconds`` includes the selection time, so a policy that spends time choosing its
    samples starts late; the time axis starts at 0 to show it. ``target`` is drawn as
    a dashed rule.
    """
    values = [_with_ci(row) for row in sorted(rows, key=_policy_round)]
    heading = "Test accuracy vs wall-clock time"
    if budget is not None:
        heading += f" at a {_percent(budget)} budget"
    title = _title(heading, values)
    x = alt.X("seconds:Q", title="wall-clock seconds (selection + training)", scale=alt.Scale(zero=True))
    y = _accuracy_y()
    color = _policy_color(values, policies)
    base = alt.Chart(alt.Data(values=values)).encode(x=x, color=color)
    layers = [
        base.mark_area(opacity=0.18).encode(y=alt.Y("band_low:Q"), y2="band_high:Q"),
        base.mark_line().encode(y=y, order="round:Q"),
        base.mark_point(filled=True, size=30).encode(
            y=y,
            tooltip=[
                alt.Tooltip("policy:N"),
                alt.Tooltip("round:Q"),
                alt.Tooltip("seconds:Q", format=".1f"),
                alt.Tooltip("mean:Q", title="mean accuracy", format=PERCENT_VALUE),
                alt.Tooltip("ci:N", title="95 % CI"),
                alt.Tooltip("n:Q", title="seeds"),
            ],
        ),
    ]
    if target is not None:
        x_at = max((row["seconds"] for row in values), default=None)
        layers += _reference_line({"mean": target, "label": f"target {_percent(target)}"}, x_at=x_at, band=False)
    return _finish(alt.layer(*layers), title)


def accuracy_vs_cost(
    points: list[dict],
    *,
    policies: Sequence[str] | None = None,
) -> dict:
    """Final test accuracy against total cost in seconds, across budgets, Pareto front marked.

    ``points``: ``{"policy", "budget", "cost_seconds", "mean", "low", "high", "pareto"}``;
    the points with ``pareto`` true are drawn larger, outlined and joined by a step line.
    """
    values = [_with_ci(point) for point in points]
    title = _title("Test accuracy vs total cost", values)
    x = alt.X(
        "cost_seconds:Q",
        title="total cost, seconds (selection + training, log scale)",
        scale=alt.Scale(type="log", nice=False, domain=_log_padded([p["cost_seconds"] for p in values])),
    )
    y = _accuracy_y()
    color = _policy_color(values, policies)
    front = sorted((p for p in values if p.get("pareto")), key=lambda p: p["cost_seconds"])
    base = alt.Chart(alt.Data(values=values)).encode(x=x, color=color)
    layers = [
        alt.Chart(alt.Data(values=front))
        .mark_line(interpolate="step-after", color="#555", strokeDash=[4, 3])
        .encode(x=x, y=y, order="cost_seconds:Q"),
        base.mark_rule(opacity=0.6).encode(y=alt.Y("band_low:Q"), y2="band_high:Q"),
        base.mark_point(filled=True, opacity=1).encode(
            y=y,
            size=alt.condition("datum.pareto", alt.value(160), alt.value(50)),
            stroke=alt.condition("datum.pareto", alt.value("#111"), alt.value(None)),
            strokeWidth=alt.condition("datum.pareto", alt.value(2), alt.value(0)),
            shape=alt.Shape(
                "pareto:N",
                title="Pareto front",
                scale=alt.Scale(domain=[True, False], range=["diamond", "circle"]),
            ),
            tooltip=[
                alt.Tooltip("policy:N"),
                alt.Tooltip("budget:Q", format=PERCENT_AXIS),
                alt.Tooltip("cost_seconds:Q", title="total cost (s)", format=".1f"),
                alt.Tooltip("mean:Q", title="mean accuracy", format=PERCENT_VALUE),
                alt.Tooltip("ci:N", title="95 % CI"),
                alt.Tooltip("pareto:N", title="on the Pareto front"),
            ],
        ),
    ]
    return _finish(alt.layer(*layers), title)


def run_curves(rows: list[dict]) -> dict:
    """One run's curves: accuracy, loss (train and test) and learning rate, by round and by time.

    ``rows``: ``{"round", "seconds", "metric", "value"}`` with ``metric`` one of
    ``test_accuracy``, ``test_loss``, ``train_loss``, ``lr``.
    """
    unknown = sorted({row["metric"] for row in rows} - set(RUN_CURVE_METRICS))
    if unknown:
        raise ValueError(f"metric: unknown {', '.join(unknown)}; expected one of {', '.join(RUN_CURVE_METRICS)}")
    values = sorted(rows, key=lambda row: (row["metric"], row["round"]))
    title = _title("Learning curves", values)
    data = alt.Data(values=values)
    panels = [
        (("test_accuracy",), "test accuracy", PERCENT_AXIS),
        (("train_loss", "test_loss"), "loss", alt.Undefined),
        (("lr",), "learning rate", alt.Undefined),
    ]
    by = [("round:Q", "round"), ("seconds:Q", "seconds (selection + training)")]
    grid = alt.vconcat(
        *(
            alt.hconcat(*(_curve_panel(data, metrics, label, fmt, field, x_title) for field, x_title in by))
            for metrics, label, fmt in panels
        )
    )
    return _finish(grid.resolve_scale(color="independent"), title, width=None)


def render(spec: dict, fmt: str) -> bytes:
    """The spec drawn as ``png`` (at twice the size, for sharp screens) or ``svg``."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"fmt: expected 'png' or 'svg', got {fmt!r}")
    spec = copy.deepcopy(spec)
    if spec.get("width") == "container":
        spec["width"] = RENDER_WIDTH
    # The data is inline; nothing should be fetched while rendering.
    if fmt == "png":
        return vl_convert.vegalite_to_png(spec, scale=2, allowed_base_urls=[])
    return vl_convert.vegalite_to_svg(spec, allowed_base_urls=[]).encode()


def rows_to_csv(rows: list[dict]) -> str:
    """Rows as CSV, the header the union of their keys in first-seen order; missing cells empty.

    No rows give an empty text (no header to take keys from).
    """
    if not rows:
        return ""
    header = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _curve_panel(data: alt.Data, metrics: tuple[str, ...], label: str, fmt: Any, x_field: str, x_title: str):
    return (
        alt.Chart(data, width=300, height=170)
        .transform_filter(alt.FieldOneOfPredicate(field="metric", oneOf=list(metrics)))
        .mark_line(point=alt.OverlayMarkDef(size=14, filled=True))
        .encode(
            x=alt.X(x_field, title=x_title),
            y=alt.Y("value:Q", title=label, scale=alt.Scale(zero=False), axis=alt.Axis(format=fmt)),
            color=alt.Color(
                "metric:N",
                title=None,
                scale=alt.Scale(domain=list(metrics)),
                legend=alt.Legend(orient="top") if len(metrics) > 1 else None,
            ),
            order="round:Q",
            tooltip=[
                alt.Tooltip("metric:N"),
                alt.Tooltip("round:Q"),
                alt.Tooltip("seconds:Q", format=".1f"),
                alt.Tooltip("value:Q", format=".4~g"),
            ],
        )
    )


def _reference_line(row: dict, *, x_at: float | None, band: bool) -> list:
    """A horizontal rule (optionally with its CI band) and its label at the right end."""
    data = alt.Data(values=[row])
    reference = alt.Chart(data)
    tooltip = [alt.Tooltip("label:N", title=" "), alt.Tooltip("mean:Q", title="accuracy", format=PERCENT_VALUE)]
    if band:
        tooltip.append(alt.Tooltip("ci:N", title="95 % CI"))
    layers = []
    if band and row.get("low") is not None and row.get("high") is not None:
        layers.append(reference.mark_rect(color="#888", opacity=0.12).encode(y="band_low:Q", y2="band_high:Q"))
    layers.append(reference.mark_rule(color="#444", strokeDash=[6, 4], size=1.5).encode(y="mean:Q", tooltip=tooltip))
    if x_at is not None:
        layers.append(
            reference.mark_text(align="right", baseline="bottom", dy=-3, color="#444").encode(
                x=alt.datum(x_at), y="mean:Q", text="label:N"
            )
        )
    return layers


def _log_padded(values: list[float]) -> Any:
    """A log-axis domain a little wider than the data, instead of the next powers of ten."""
    positive = [value for value in values if value > 0]
    if not positive:
        return alt.Undefined
    return [min(positive) / 1.25, max(positive) * 1.25]


def _accuracy_y() -> alt.Y:
    return alt.Y(
        "mean:Q",
        title="test accuracy (mean over seeds, 95 % CI)",
        scale=alt.Scale(zero=False),
        axis=alt.Axis(format=PERCENT_AXIS),
    )


def _policy_color(values: Iterable[dict], policies: Sequence[str] | None) -> alt.Color:
    """Colours by policy in one fixed order, so a policy keeps its colour across plots."""
    domain = list(policies) if policies is not None else sorted({row["policy"] for row in values})
    return alt.Color("policy:N", title="policy", scale=alt.Scale(domain=domain, scheme="tableau10"))


def _finish(chart, title: str, *, width: Any = "container") -> dict:
    chart = chart.properties(title=title)
    if width is not None:
        chart = chart.properties(width=width, height=320)
    return (
        chart.configure_axis(grid=True, gridOpacity=0.5)
        .configure_legend(orient="right", symbolOpacity=1)
        .to_dict(validate=VALIDATE_SPECS)
    )


def _title(heading: str, values: list) -> str:
    return heading if values else f"{heading}: {NO_RUNS}"


def _with_ci(row: dict) -> dict:
    """A row with its interval as hover text, and the band drawn within 0–100 %.

    With two or three seeds a t-interval can reach past what an accuracy can be;
    the band stops at the axis's ends while the hover text keeps the interval.
    """
    low, high = row.get("low"), row.get("high")
    return {
        **row,
        "ci": _ci_label(row),
        "band_low": None if low is None else max(0.0, low),
        "band_high": None if high is None else min(1.0, high),
    }


def _ci_label(row: dict) -> str:
    low, high = row.get("low"), row.get("high")
    if low is None or high is None:
        return "n/a"
    return f"{low * 100:.1f} – {high * 100:.1f} %"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.4g} %"


def _policy_round(row: dict) -> tuple[str, int]:
    return row["policy"], row["round"]
