"""The comparison plots as data: planted rows in, Vega-Lite spec out; and their exports."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from backend.experiments import plots

VENDOR = Path(__file__).resolve().parents[2] / "frontend" / "static" / "vendor"

BUDGET_POINTS = [
    {"policy": "rs2_without_replacement", "budget": 0.1, "mean": 0.81, "low": 0.79, "high": 0.83, "n": 3},
    {"policy": "rs2_without_replacement", "budget": 0.3, "mean": 0.88, "low": 0.87, "high": 0.89, "n": 3},
    {"policy": "random_static", "budget": 0.1, "mean": 0.74, "low": 0.70, "high": 0.78, "n": 3},
    {"policy": "random_static", "budget": 0.3, "mean": 0.85, "low": None, "high": None, "n": 1},
]
FULL = {"mean": 0.93, "low": 0.92, "high": 0.94}
TIME_ROWS = [
    {"policy": "el2n_prune", "round": 1, "seconds": 42.0, "mean": 0.30, "low": 0.25, "high": 0.35, "n": 2},
    {"policy": "el2n_prune", "round": 2, "seconds": 44.0, "mean": 0.55, "low": 0.50, "high": 0.60, "n": 2},
    {"policy": "random_static", "round": 2, "seconds": 4.0, "mean": 0.60, "low": 0.58, "high": 0.62, "n": 2},
    {"policy": "random_static", "round": 1, "seconds": 2.0, "mean": 0.35, "low": 0.33, "high": 0.37, "n": 2},
]


@pytest.fixture(autouse=True)
def validated_specs(monkeypatch):
    """Every spec built here is checked against the Vega-Lite schema, which pages skip for speed."""
    monkeypatch.setattr(plots, "VALIDATE_SPECS", True)


def cost_point(policy: str, budget: float, cost_seconds: float, mean: float, pareto: bool) -> dict:
    return {
        "policy": policy,
        "budget": budget,
        "cost_seconds": cost_seconds,
        "mean": mean,
        "low": mean - 0.02,
        "high": mean + 0.02,
        "pareto": pareto,
    }


COST_POINTS = [
    cost_point("rs2_without_replacement", 0.1, 30.0, 0.81, True),
    cost_point("random_static", 0.1, 31.0, 0.74, False),
    cost_point("full", 1.0, 300.0, 0.93, True),
]
CURVE_ROWS = [
    {"round": r, "seconds": 2.5 * r, "metric": metric, "value": value}
    for r in (1, 2, 3)
    for metric, value in (("test_accuracy", 0.3 * r), ("test_loss", 2.0 / r), ("train_loss", 1.5 / r), ("lr", 0.1))
]


def views(spec: dict) -> list[dict]:
    """Every single view of a spec, through layers and concatenations."""
    found = []
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in spec.get(key, []):
            found += views(child)
    if "mark" in spec:
        found.append(spec)
    return found


def datasets(spec: dict) -> list[list[dict]]:
    """The inline data of a spec and of all its parts, top-level ``datasets`` included."""
    found = list(spec.get("datasets", {}).values())
    if "values" in spec.get("data", {}):
        found.append(spec["data"]["values"])
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in spec.get(key, []):
            found += datasets(child)
    return found


def mark_type(view: dict) -> str:
    return view["mark"]["type"] if isinstance(view["mark"], dict) else view["mark"]


def tooltip_fields(spec: dict) -> set[str]:
    fields = set()
    for view in views(spec):
        for tooltip in view.get("encoding", {}).get("tooltip", []):
            fields.add(tooltip["field"])
    return fields


def test_it_carries_the_budget_points_and_the_full_data_inline():
    spec = plots.accuracy_vs_budget(BUDGET_POINTS, FULL)

    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
    data = datasets(spec)
    points = next(values for values in data if len(values) == len(BUDGET_POINTS))
    assert [(p["policy"], p["budget"], p["mean"], p["n"]) for p in points] == [
        (p["policy"], p["budget"], p["mean"], p["n"]) for p in BUDGET_POINTS
    ]
    assert points[0]["ci"] == "79.0 – 83.0 %"
    assert points[3]["ci"] == "n/a"
    full = {"mean": 0.93, "low": 0.92, "high": 0.94, "label": "full data", "ci": "92.0 – 94.0 %"}
    assert [{**full, "band_low": 0.92, "band_high": 0.94}] in data


def test_it_puts_budget_on_a_log_axis_in_percent():
    spec = plots.accuracy_vs_budget(BUDGET_POINTS, FULL)

    x = next(v["encoding"]["x"] for v in views(spec) if v["encoding"].get("x", {}).get("field") == "budget")
    assert x["scale"]["type"] == "log"
    assert x["axis"]["format"] == "~%"
    assert x["axis"]["values"] == [0.1, 0.3]
    y = next(v["encoding"]["y"] for v in views(spec) if v["encoding"].get("y", {}).get("field") == "mean")
    assert y["axis"]["format"] == "~%"


def test_it_draws_full_data_as_a_labelled_rule_with_its_band():
    spec = plots.accuracy_vs_budget(BUDGET_POINTS, FULL)

    by_mark = {mark_type(v): v for v in views(spec) if v["data"]["values"][0].get("label") == "full data"}
    assert by_mark["rule"]["encoding"]["y"]["field"] == "mean"
    band = by_mark["rect"]["encoding"]
    assert (band["y"]["field"], band["y2"]["field"]) == ("band_low", "band_high")
    assert by_mark["text"]["encoding"]["text"]["field"] == "label"


def test_it_draws_one_band_line_and_points_per_policy_with_hover_values():
    spec = plots.accuracy_vs_budget(BUDGET_POINTS)

    marks = {mark_type(v): v for v in views(spec)}
    assert set(marks) == {"area", "line", "point"}
    band = marks["area"]["encoding"]
    assert (band["y"]["field"], band["y2"]["field"]) == ("band_low", "band_high")
    assert marks["line"]["encoding"]["color"]["field"] == "policy"
    assert {"policy", "budget", "mean", "ci", "n"} <= tooltip_fields(spec)
    assert "full data" not in json.dumps(spec)


def test_it_keeps_policy_colours_in_one_order():
    by_name = plots.accuracy_vs_budget(BUDGET_POINTS)
    chosen = plots.accuracy_vs_budget(BUDGET_POINTS, policies=["rs2_without_replacement", "random_static"])

    def domain(spec):
        return views(spec)[0]["encoding"]["color"]["scale"]["domain"]

    assert domain(by_name) == ["random_static", "rs2_without_replacement"]
    assert domain(chosen) == ["rs2_without_replacement", "random_static"]


def test_time_plot_starts_each_policy_at_its_selection_seconds_and_draws_the_target():
    spec = plots.accuracy_vs_time(TIME_ROWS, target=0.5, budget=0.1)

    assert "10 %" in spec["title"]
    rows = next(values for values in datasets(spec) if len(values) == len(TIME_ROWS))
    first = {}
    for row in rows:
        first.setdefault(row["policy"], row)
    assert (first["el2n_prune"]["round"], first["el2n_prune"]["seconds"]) == (1, 42.0)
    assert (first["random_static"]["round"], first["random_static"]["seconds"]) == (1, 2.0)
    x = next(v["encoding"]["x"] for v in views(spec) if v["encoding"].get("x", {}).get("field") == "seconds")
    assert x["scale"]["zero"] is True
    rule = next(v for v in views(spec) if mark_type(v) == "rule")
    assert rule["data"]["values"] == [{"mean": 0.5, "label": "target 50 %"}]
    assert rule["mark"]["strokeDash"]
    assert {"policy", "round", "seconds", "mean", "ci", "n"} <= tooltip_fields(spec)


def test_time_plot_without_target_has_no_rule():
    spec = plots.accuracy_vs_time(TIME_ROWS)

    assert "rule" not in {mark_type(v) for v in views(spec)}
    assert spec["title"] == "Test accuracy vs wall-clock time"


def test_cost_plot_marks_and_joins_the_pareto_front():
    spec = plots.accuracy_vs_cost(COST_POINTS)

    x = next(v["encoding"]["x"] for v in views(spec) if v["encoding"].get("x", {}).get("field") == "cost_seconds")
    assert x["scale"]["type"] == "log"
    line = next(v for v in views(spec) if mark_type(v) == "line")
    assert [(p["policy"], p["cost_seconds"]) for p in line["data"]["values"]] == [
        ("rs2_without_replacement", 30.0),
        ("full", 300.0),
    ]
    assert line["mark"]["interpolate"] == "step-after"
    point = next(v for v in views(spec) if mark_type(v) == "point")
    assert point["encoding"]["size"]["condition"] == {"test": "datum.pareto", "value": 160}
    assert point["encoding"]["size"]["value"] == 50
    assert point["encoding"]["shape"]["field"] == "pareto"
    bars = next(v for v in views(spec) if mark_type(v) == "rule")
    assert (bars["encoding"]["y"]["field"], bars["encoding"]["y2"]["field"]) == ("band_low", "band_high")
    assert [p["pareto"] for p in point["data"]["values"]] == [True, False, True]
    assert {"policy", "budget", "cost_seconds", "mean", "ci", "pareto"} <= tooltip_fields(spec)


def test_run_curves_draw_accuracy_loss_and_lr_by_round_and_by_time():
    spec = plots.run_curves(CURVE_ROWS)

    assert len(spec["vconcat"]) == 3
    panels = views(spec)
    assert len(panels) == 6
    shown = [
        (panel["transform"][0]["filter"]["oneOf"], panel["encoding"]["x"]["field"], panel["encoding"]["y"]["title"])
        for panel in panels
    ]
    assert shown == [
        (["test_accuracy"], "round", "test accuracy"),
        (["test_accuracy"], "seconds", "test accuracy"),
        (["train_loss", "test_loss"], "round", "loss"),
        (["train_loss", "test_loss"], "seconds", "loss"),
        (["lr"], "round", "learning rate"),
        (["lr"], "seconds", "learning rate"),
    ]
    values = datasets(spec)[0]
    assert sorted(values, key=lambda r: (r["round"], r["metric"])) == sorted(
        CURVE_ROWS, key=lambda r: (r["round"], r["metric"])
    )
    assert {"metric", "round", "seconds", "value"} <= tooltip_fields(spec)


def test_run_curves_refuse_an_unknown_metric():
    with pytest.raises(ValueError, match="metric: unknown val_accuracy"):
        plots.run_curves([{"round": 1, "seconds": 1.0, "metric": "val_accuracy", "value": 0.5}])


@pytest.mark.parametrize(
    "build",
    [
        lambda: plots.accuracy_vs_budget([], None),
        lambda: plots.accuracy_vs_budget([], FULL),
        lambda: plots.accuracy_vs_time([], target=0.8, budget=0.1),
        lambda: plots.accuracy_vs_cost([]),
        lambda: plots.run_curves([]),
    ],
)
def test_empty_input_gives_an_empty_plot_that_says_so(build):
    spec = build()

    assert spec["title"].endswith("no finished runs yet")
    assert [] in datasets(spec)
    assert plots.render(spec, "svg").startswith(b"<svg")


def test_render_draws_a_png_at_twice_the_size():
    png = plots.render(plots.accuracy_vs_budget(BUDGET_POINTS, FULL), "png")

    assert png.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(png))
    image.load()
    # The container width becomes 640 px for rendering; scale 2 doubles it.
    assert 2 * 640 < image.width < 2 * 1000
    assert 2 * 320 < image.height < 2 * 600


def test_render_draws_an_svg_with_the_data():
    svg = plots.render(plots.accuracy_vs_budget(BUDGET_POINTS, FULL), "svg")

    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert b"full data" in svg
    assert b"rs2_without_replacement" in svg


def test_render_leaves_the_spec_untouched():
    spec = plots.accuracy_vs_budget(BUDGET_POINTS)
    before = json.dumps(spec, sort_keys=True)

    plots.render(spec, "png")

    assert json.dumps(spec, sort_keys=True) == before
    assert spec["width"] == "container"


def test_render_refuses_other_formats():
    with pytest.raises(ValueError, match="fmt: expected 'png' or 'svg', got 'pdf'"):
        plots.render(plots.accuracy_vs_budget(BUDGET_POINTS), "pdf")


def test_rows_to_csv_round_trips_with_the_union_of_keys_in_first_seen_order():
    rows = [
        {"policy": "rs2, without", "budget": 0.1, "mean": 0.8},
        {"policy": 'say "full"', "budget": 1.0, "low": None, "n": 3},
    ]

    text = plots.rows_to_csv(rows)

    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["policy", "budget", "mean", "low", "n"]
    assert list(reader) == [
        {"policy": "rs2, without", "budget": "0.1", "mean": "0.8", "low": "", "n": ""},
        {"policy": 'say "full"', "budget": "1.0", "mean": "", "low": "", "n": "3"},
    ]


def test_rows_to_csv_of_nothing_is_empty():
    assert plots.rows_to_csv([]) == ""


@pytest.mark.parametrize("name", ["htmx", "vega", "vega-lite", "vega-embed"])
def test_each_vendored_library_has_its_licence_next_to_it(name):
    script = VENDOR / f"{name}.min.js"
    licence = VENDOR / f"{name}.LICENSE"

    assert script.stat().st_size > 10_000
    assert "Copyright" in licence.read_text() or "Permission" in licence.read_text()
    assert f"`{name}.min.js`" in (VENDOR / "README.md").read_text()


def test_vega_embed_takes_the_separately_vendored_vega_and_vega_lite():
    head = (VENDOR / "vega-embed.min.js").read_text()[:600]

    assert 'require("vega"),require("vega-lite")' in head
    assert "t(e.vega,e.vegaLite)" in head
    assert "(e=" in (VENDOR / "vega-lite.min.js").read_text()[:400]
    assert ".vegaLite={}" in (VENDOR / "vega-lite.min.js").read_text()[:400]
    assert ".vega={}" in (VENDOR / "vega.min.js").read_text()[:400]


def test_a_band_wider_than_an_accuracy_can_be_is_drawn_within_0_and_100_percent():
    # Two seeds: the t-interval (one degree of freedom) reaches past both ends.
    rows = [{"policy": "random_static", "round": 1, "seconds": 0.5, "mean": 0.6, "low": -0.9, "high": 2.1, "n": 2}]

    spec = plots.accuracy_vs_time(rows, target=0.5, budget=0.3)

    values = [row for layer in spec["layer"] for row in layer.get("data", {}).get("values", []) if "policy" in row]
    assert values and all(row["band_low"] == 0.0 and row["band_high"] == 1.0 for row in values)
    assert all(row["ci"] == "-90.0 – 210.0 %" for row in values)  # the hover text keeps the interval
