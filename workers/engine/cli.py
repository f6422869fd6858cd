"""Command line: train one run or a policies × budgets × seeds grid without the web app.

    python -m workers.engine run  --dataset mnist1d --model cnn1d --policy rs2_without_replacement --budget 0.1 --seed 0
    python -m workers.engine grid --dataset mnist1d --model cnn1d --policies full,rs2_without_replacement \\
        --budgets 0.1,0.3 --seeds 0,1,2 --json results.json

``--dataset`` is a built-in key or a path to an image-folder archive, ``.npz`` or
``.csv``; it is imported once into the content-addressed store under ``--data-dir``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from workers.engine.arrays import ArrayDataset
from workers.engine.errors import ConfigError, DatasetError
from workers.engine.recipe import RECIPE_SCHEMA, resolve_recipe
from workers.engine.strategies import STRATEGIES, get_strategy, make_sampler
from workers.engine.training import Callbacks, RunConfig, check_run_config, resolve_device, train_run

REPOSITORY = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = os.environ.get("SAMPLEWISE_DATA_DIR", "var/data")


# ---------------------------------------------------------------------------
# Provenance: what produced a result
# ---------------------------------------------------------------------------


def code_version() -> str | None:
    """``git describe --always --dirty`` of the checkout, or None outside a git checkout."""
    try:
        completed = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None


def machine_description(device: torch.device) -> dict[str, Any]:
    description = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        description["gpu"] = torch.cuda.get_device_name(device)
    return description


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------


def load_cli_dataset(
    spec: str, data_dir: str | Path, *, train_per_class: int | None = None, subset_seed: int = 0
) -> tuple[ArrayDataset, dict[str, Any]]:
    """Materialise a built-in key or import a file, then load its arrays (optionally a balanced subset)."""
    from workers.engine.datasets import (
        BUILTIN_DATASETS,
        balanced_subset,
        import_dataset,
        load_dataset,
        materialize_builtin,
    )

    if spec in BUILTIN_DATASETS:
        info = materialize_builtin(spec, data_dir)
    elif Path(spec).exists():
        info = import_dataset(spec, data_dir)
    else:
        known = ", ".join(sorted(BUILTIN_DATASETS))
        raise DatasetError(f"{spec}: neither a built-in dataset ({known}) nor an existing file")
    dataset = load_dataset(info.sha256, data_dir)
    description = {"source": spec, **asdict(info)}
    if train_per_class is not None:
        dataset = balanced_subset(dataset, train_per_class=train_per_class, seed=subset_seed)
        description["train_per_class"] = train_per_class
        description["subset_seed"] = subset_seed
        description["train_size"] = len(dataset.y_train)
    return dataset, description


# ---------------------------------------------------------------------------
# Grids and their summaries
# ---------------------------------------------------------------------------


def grid_configs(
    *,
    model: str,
    recipe: dict[str, Any],
    policies: Sequence[tuple[str, dict[str, Any]]],
    budgets: Sequence[float],
    seeds: Sequence[int],
) -> list[RunConfig]:
    """Every (policy, budget, seed) cell as a resolved config; a budget-free policy runs once per seed."""
    configs: dict[str, RunConfig] = {}
    for strategy, params in policies:
        for budget in budgets:
            for seed in seeds:
                config = check_run_config(
                    {
                        "model": model,
                        "recipe": recipe,
                        "strategy": strategy,
                        "params": params,
                        "budget": budget,
                        "seed": seed,
                    }
                )
                configs.setdefault(config.fingerprint(), config)
    return list(configs.values())


class _ProgressCallbacks(Callbacks):
    def __init__(self, bar: tqdm):
        self.bar = bar

    def on_round_end(self, round_index: int) -> None:
        self.bar.update(1)

    def on_evaluation(self, metric: dict[str, Any]) -> None:
        self.bar.set_postfix(epoch=metric["epoch"], acc=f"{metric['test_accuracy']:.3f}")


def run_grid(
    configs: Sequence[RunConfig],
    dataset: ArrayDataset,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_result: Callable[[RunConfig, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every config in turn, with one progress bar counting rounds over the whole grid."""
    planned = [
        make_sampler(config.strategy, config.params, budget=config.budget, labels=dataset.y_train).planned_rounds(
            config.recipe["rounds"]
        )
        for config in configs
    ]
    records = []
    with tqdm(total=sum(planned), unit="round", disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
        for config in configs:
            bar.set_description(f"{config.strategy} r={config.budget:g} seed={config.seed}")
            result = train_run(asdict(config), dataset, device=device, callbacks=_ProgressCallbacks(bar))
            record = {"config": asdict(config), "seed": config.seed, "result": result.to_dict()}
            records.append(record)
            if on_result is not None:
                on_result(config, record)
    return records


def _policy_label(config: dict[str, Any]) -> str:
    params = ",".join(f"{key}={value}" for key, value in sorted(config["params"].items()) if value)
    return f"{config['strategy']}({params})" if params else config["strategy"]


def _spread(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation over seeds per (policy, budget)."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for record in records:
        key = (_policy_label(record["config"]), record["config"]["budget"])
        groups.setdefault(key, []).append(record["result"])
    rows = []
    for (policy, budget), results in groups.items():
        accuracies = [r["final_accuracy"] for r in results if r["final_accuracy"] is not None]
        reached = [r["time_to_target_seconds"] for r in results if r["time_to_target_seconds"] is not None]
        row = {
            "policy": policy,
            "budget": budget,
            "seeds": len(results),
            "final_accuracy_mean": None,
            "final_accuracy_std": None,
            "time_to_target_mean": None,
            "time_to_target_std": None,
            "reached_target": len(reached),
            "selection_seconds_mean": statistics.fmean(r["selection_seconds"] for r in results),
            "training_seconds_mean": statistics.fmean(r["training_seconds"] for r in results),
            "evaluation_seconds_mean": statistics.fmean(r["evaluation_seconds"] for r in results),
            "samples_trained_mean": statistics.fmean(r["samples_trained"] for r in results),
        }
        if accuracies:
            row["final_accuracy_mean"], row["final_accuracy_std"] = _spread(accuracies)
        if reached:
            row["time_to_target_mean"], row["time_to_target_std"] = _spread(reached)
        rows.append(row)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table: accuracy in %, times in seconds, mean ± std over seeds."""
    header = ("policy", "r", "seeds", "final acc (%)", "time to target (s)", "selection (s)", "training (s)", "samples")
    lines = [header]
    for row in rows:
        accuracy = "—"
        if row["final_accuracy_mean"] is not None:
            accuracy = f"{100 * row['final_accuracy_mean']:.2f} ± {100 * row['final_accuracy_std']:.2f}"
        to_target = "—"
        if row["time_to_target_mean"] is not None:
            to_target = f"{row['time_to_target_mean']:.1f} ± {row['time_to_target_std']:.1f}"
            if row["reached_target"] < row["seeds"]:
                to_target += f" ({row['reached_target']}/{row['seeds']})"
        lines.append(
            (
                row["policy"],
                f"{row['budget']:g}",
                str(row["seeds"]),
                accuracy,
                to_target,
                f"{row['selection_seconds_mean']:.2f}",
                f"{row['training_seconds_mean']:.1f}",
                f"{row['samples_trained_mean']:.0f}",
            )
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    rendered = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write atomically, so an interrupted grid never leaves a half-written results file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    os.replace(temporary, path)


def report(
    *,
    command: Sequence[str],
    dataset: dict[str, Any],
    device: torch.device,
    records: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "command": list(command),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "machine": machine_description(device),
        "dataset": dataset,
        **(extra or {}),
        "summary": summarize(records),
        "runs": records,
    }


# ---------------------------------------------------------------------------
# Argument parsing
# ---------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """``true``/``false``/numbers/``null`` as JSON, anything else as a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(items: Sequence[str], option: str) -> dict[str, Any]:
    values = {}
    for item in items:
        key, separator, text = item.partition("=")
        if not separator or not key:
            raise ConfigError(option, f"expected key=value, got {item!r}")
        values[key] = parse_value(text)
    return values


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        return [kind(item.strip()) for item in text.split(",") if item.strip()]

    return parse


RECIPE_OPTIONS = {
    "rounds": int,
    "batch_size": int,
    "optimizer": str,
    "lr": float,
    "momentum": float,
    "weight_decay": float,
    "label_smoothing": float,
    "schedule": str,
    "warmup_fraction": float,
    "augment_translate": int,
    "target_accuracy": float,
    "eval_every": int,
}


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="built-in key or path to an archive, .npz or .csv")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="dataset store (default: %(default)s)")
    parser.add_argument("--train-per-class", type=int, help="train on a class-balanced subset of this many per class")
    parser.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--json", dest="json_path", help="write the resolved configs and results here")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    recipe = parser.add_argument_group("recipe (defaults from the engine's recipe schema)")
    for name, kind in RECIPE_OPTIONS.items():
        recipe.add_argument(f"--{name.replace('_', '-')}", dest=f"recipe_{name}", type=kind)
    for flag in ("nesterov", "augment_flip"):
        recipe.add_argument(
            f"--{flag.replace('_', '-')}", dest=f"recipe_{flag}", action=argparse.BooleanOptionalAction, default=None
        )
    recipe.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE", help="any other recipe field")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workers.engine", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="train one policy at one budget and seed")
    _add_common(run)
    run.add_argument("--policy", required=True, choices=sorted(STRATEGIES))
    run.add_argument("--budget", type=float, default=1.0)
    run.add_argument("--seed", type=int, default=0)

    grid = commands.add_parser("grid", help="train policies × budgets × seeds and summarise over seeds")
    _add_common(grid)
    grid.add_argument("--policies", required=True, type=_csv(str))
    grid.add_argument("--budgets", required=True, type=_csv(float))
    grid.add_argument("--seeds", default=[0, 1, 2], type=_csv(int))
    return parser


def recipe_from_args(args: argparse.Namespace) -> dict[str, Any]:
    recipe = parse_assignments(args.recipe, "recipe")
    known = {param.name for param in RECIPE_SCHEMA}
    for name in known:
        value = getattr(args, f"recipe_{name}", None)
        if value is not None:
            recipe[name] = value
    return resolve_recipe(recipe)


def policies_from_args(strategies: Sequence[str], assignments: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """Each strategy with the ``--param`` values it declares; a value no strategy declares is an error."""
    values = parse_assignments(assignments, "param")
    used: set[str] = set()
    policies = []
    for key in strategies:
        strategy = get_strategy(key, field="policy")
        declared = {param.name for param in strategy.params}
        params = {name: value for name, value in values.items() if name in declared}
        used.update(params)
        policies.append((key, params))
    for name in values:
        if name not in used:
            raise ConfigError(f"params.{name}", "is not a parameter of any chosen policy")
    return policies


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        recipe = recipe_from_args(args)
        strategies = [args.policy] if args.command == "run" else args.policies
        budgets = [args.budget] if args.command == "run" else args.budgets
        seeds = [args.seed] if args.command == "run" else args.seeds
        policies = policies_from_args(strategies, args.param)
        configs = grid_configs(model=args.model, recipe=recipe, policies=policies, budgets=budgets, seeds=seeds)
        device = resolve_device(args.device)
        dataset, description = load_cli_dataset(args.dataset, args.data_dir, train_per_class=args.train_per_class)
    except (ConfigError, DatasetError) as error:
        parser.exit(2, f"error: {error}\n")

    records = run_grid(configs, dataset, device=device, progress=not args.no_progress)
    print(format_table(summarize(records)))
    if args.json_path:
        command = ["python", "-m", "workers.engine", *(sys.argv[1:] if argv is None else argv)]
        write_json(args.json_path, report(command=command, dataset=description, device=device, records=records))
        print(f"wrote {args.json_path}")
    return 0
