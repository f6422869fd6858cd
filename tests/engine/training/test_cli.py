"""The command line trains runs and grids end to end on a tiny dataset and writes JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.engine.training.conftest import blobs
from workers.engine.cli import main

REPOSITORY = Path(__file__).resolve().parents[3]


@pytest.fixture
def npz_path(tmp_path) -> Path:
    dataset = blobs(train_size=120, test_size=60)
    path = tmp_path / "blobs.npz"
    np.savez(path, x_train=dataset.x_train, y_train=dataset.y_train, x_test=dataset.x_test, y_test=dataset.y_test)
    return path


def test_grid_trains_every_cell_summarises_over_seeds_and_writes_json(tmp_path, npz_path, capsys):
    out = tmp_path / "grid.json"
    code = main(
        [
            "grid",
            "--dataset", str(npz_path),
            "--model", "mlp",
            "--policies", "full,random_static,rs2_with_replacement",
            "--param", "class_balanced=true",
            "--budgets", "0.2,0.5",
            "--seeds", "0,1",
            "--rounds", "3",
            "--lr", "0.05",
            "--target-accuracy", "0.5",
            "--data-dir", str(tmp_path / "data"),
            "--device", "cpu",
            "--json", str(out),
            "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    table = capsys.readouterr().out
    assert "rs2_with_replacement(class_balanced=True)" in table
    assert "±" in table

    report = json.loads(out.read_text())
    # full ignores the budget, so it runs once per seed: 2 + 2 × 2 × 2 runs.
    assert len(report["runs"]) == 10
    assert {run["config"]["budget"] for run in report["runs"] if run["config"]["strategy"] == "full"} == {1.0}
    static = [run for run in report["runs"] if run["config"]["strategy"] == "random_static"]
    assert all(run["config"]["params"] == {"class_balanced": True} for run in static)
    assert all(run["config"]["recipe"]["rounds"] == 3 and run["config"]["recipe"]["lr"] == 0.05 for run in static)
    assert len(report["summary"]) == 5
    for row in report["summary"]:
        assert row["seeds"] == 2
        assert 0 <= row["final_accuracy_mean"] <= 1
    assert report["dataset"]["train_size"] == 120
    assert report["machine"]["device"] == "cpu"
    assert "code_version" in report
    for run in report["runs"]:
        assert len(run["result"]["metrics"]) == 3


def test_run_command_works_as_a_module(tmp_path, npz_path):
    out = tmp_path / "run.json"
    completed = subprocess.run(
        [
            sys.executable, "-m", "workers.engine", "run",
            "--dataset", str(npz_path),
            "--model", "mlp",
            "--policy", "rs2_without_replacement",
            "--budget", "0.25",
            "--seed", "3",
            "--rounds", "2",
            "--data-dir", str(tmp_path / "data"),
            "--device", "cpu",
            "--json", str(out),
        ],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "rs2_without_replacement" in completed.stdout
    (run,) = json.loads(out.read_text())["runs"]
    assert run["seed"] == 3
    assert run["result"]["samples_trained"] == 2 * 30
    assert run["result"]["rounds_completed"] == 2


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--param", "nope=1"], "params.nope"),
        (["--recipe", "nope=1"], "recipe.nope"),
        (["--budgets", "0"], "budget"),
    ],
)
def test_bad_options_exit_with_a_message_naming_the_field(tmp_path, npz_path, capsys, extra, message):
    arguments = ["grid", "--dataset", str(npz_path), "--model", "mlp", "--policies", "full", "--budgets", "0.5"]
    arguments += ["--data-dir", str(tmp_path / "data"), *extra]
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_missing_dataset_is_reported(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--dataset", str(tmp_path / "absent.npz"), "--model", "mlp", "--policy", "full"])
    assert "absent.npz" in capsys.readouterr().err
