"""Comparison pages under load: SQL queries, response time and size of each page for a 500-run experiment.

Creates a throw-away database holding one team, its owner, a ready MNIST-1D
dataset row and an experiment of 500 runs made by ``experiment_create``, then
marks every execution succeeded with seeded figures and 100 evaluations each
(50,000 metric rows); nothing is trained. Each URL is requested with Django's
test client, in process and logged in as the owner, with DEBUG off as in
production: the SQL queries of one request (the session and user lookups
included), the median and 95th percentile of ``--repeat`` timed requests after
``--warmup`` untimed ones, and the response size. A response with an ETag is
then requested again with ``If-None-Match`` and reported on its own row.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/samplewise_pagebench \
    .venv/bin/python benchmarks/comparison_pages.py --repeat 30
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

# Full data ignores the budget and runs once per seed at r = 1, so the grid is
# (1 + 3 × 8) × 20 = 500 cells. full_short is left out: it trains budget × 100
# rounds, so it cannot give 100 evaluations per execution.
FULL = "full"
BUDGETED = ("random_static", "rs2_without_replacement", "rs2_with_replacement")
BUDGETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7)
SEEDS = 20
ROUNDS = 100
BATCH_SIZE = 100
TARGET_ACCURACY = 0.85
TRAIN_SIZE, TEST_SIZE, CLASSES = 4000, 1000, 10

# Made-up but MNIST-1D-like figures (docs/benchmarks.md, part b). Final accuracy
# saturates with the budget, fastest for RS2: chance + (full - chance) × (1 - e^(-r/s)),
# normalised to reach the full-data accuracy at r = 1.
FULL_ACCURACY = 0.96
CHANCE = 1 / CLASSES
SATURATION = {FULL: 0.02, "random_static": 0.15, "rs2_without_replacement": 0.02, "rs2_with_replacement": 0.025}
FULL_TRAINING_SECONDS = 25.0
SELECTION_SECONDS = {FULL: 0.015, "random_static": 0.006, "rs2_without_replacement": 0.02, "rs2_with_replacement": 0.02}
EVALUATION_SECONDS = 0.02

DEFAULT_PAGES = (
    "/experiments/{experiment}/",
    "/experiments/{experiment}/runs/",
    "/api/v1/runs/?experiment={experiment}",
    "/experiments/{experiment}/plots/budget.json",
    "/experiments/{experiment}/plots/time.json",
    "/experiments/{experiment}/plots/cost.json",
)
# Leaderboard pages, measured when the URL name exists; the web views take pk, the API experiment_id.
LEADERBOARD_NAMES = (
    "experiment_leaderboard",
    "api-experiment-leaderboard",
    "experiment_budget_table",
    "api-experiment-budget-table",
)
PLACEHOLDERS = {"experiment": 0, "team": "team-slug", "team_id": 0}


@dataclass(frozen=True)
class Measurement:
    url: str
    status: int
    queries: int
    median_ms: float
    p95_ms: float
    size_kb: float
    etag: str | None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--urls",
        type=url_list,
        help="comma-separated paths with {experiment} (its id), {team} (slug) and {team_id} placeholders; "
        "default: the experiment page, its runs fragment, the runs API and the leaderboard URLs that exist",
    )
    parser.add_argument("--repeat", type=at_least(1), default=30, help="timed requests per URL")
    parser.add_argument("--warmup", type=at_least(0), default=3, help="untimed requests per URL before timing")
    parser.add_argument(
        "--if-none-match",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time a conditional request for every response that carries an ETag",
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.test.utils import (
        setup_databases,
        setup_test_environment,
        teardown_databases,
        teardown_test_environment,
    )

    setup_test_environment(debug=False)
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        run_benchmark(args)
    finally:
        teardown_databases(old_config, verbosity=0)
        teardown_test_environment()


def url_list(value: str) -> list[str]:
    urls = [url.strip() for url in value.split(",") if url.strip()]
    if not urls:
        raise argparse.ArgumentTypeError("give at least one path")
    for url in urls:
        if not url.startswith("/"):
            raise argparse.ArgumentTypeError(f"{url!r} is not a path starting with /")
        try:
            url.format(**PLACEHOLDERS)
        except (KeyError, IndexError, ValueError) as error:
            known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
            raise argparse.ArgumentTypeError(f"{url!r} has a bad placeholder ({error}); known: {known}") from None
    return urls


def at_least(minimum: int):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
        return number

    return parse


def run_benchmark(args: argparse.Namespace) -> None:
    from django.db import connection
    from django.test import Client

    from workers.engine.version import engine_commit

    load_before = os.getloadavg()
    major, minor = divmod(connection.pg_version, 10000)
    print(
        f"machine: {platform.node()}, {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, Django {version('django')}, PostgreSQL {major}.{minor}"
    )
    print(f"commit: {engine_commit() or 'unknown'}")

    started = time.perf_counter()
    experiment, owner = build_experiment()
    counts = grid_counts(experiment)
    print(
        f"grid: full data at r = 1 (the budget does not apply) × {SEEDS} seeds + {len(BUDGETED)} policies × "
        f"{len(BUDGETS)} budgets ({', '.join(f'{budget:g}' for budget in BUDGETS)}) × {SEEDS} seeds "
        f"= {counts['runs']} runs; full_short left out (it trains budget × {ROUNDS} rounds)"
    )
    print(
        f"data: {counts['runs']} runs, {counts['succeeded']} succeeded executions, {counts['metrics']:,} metric rows, "
        f"built in {time.perf_counter() - started:.1f} s"
    )

    if args.urls is None:
        urls, skipped = default_urls(experiment.pk)
        if skipped:
            print(f"skipped, no such URL name: {', '.join(skipped)}")
    else:
        urls = [
            url.format(experiment=experiment.pk, team=experiment.team.slug, team_id=experiment.team_id)
            for url in args.urls
        ]

    client = Client()
    client.force_login(owner)
    rows = []
    for url in urls:
        measurement = measure(client, url, args.repeat, args.warmup)
        rows.append(table_row(measurement))
        if args.if_none_match and measurement.etag:
            conditional = measure(client, url, args.repeat, args.warmup, headers={"If-None-Match": measurement.etag})
            rows.append(table_row(conditional, label=f"`{url}` with If-None-Match"))

    print(
        f"requests: Django test client in process, DEBUG off, as the team owner; {args.warmup} warm-ups, "
        f"then {args.repeat} timed requests per URL; load average {load_before[0]:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    print_markdown(["URL", "status", "SQL queries", "median (ms)", "p95 (ms)", "size (KB)"], rows)


def build_experiment():
    """The team, its owner and a 500-run experiment whose executions all succeeded, with their curves."""
    from django.contrib.auth import get_user_model

    from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
    from backend.experiments.services import experiment_create
    from backend.policies.models import SamplingPolicy
    from backend.teams.services import team_create
    from workers.celery import app

    # The executions are marked finished below, never trained: their messages go to
    # an in-process broker, where no worker of a shared broker can pick them up.
    app.conf.broker_url = "memory://localhost/"
    app.conf.broker_transport_options = {}

    owner = get_user_model().objects.create_user("owner")
    team = team_create(name="Bench", owner=owner)
    dataset = Dataset.objects.create(
        team=team,
        name="MNIST-1D",
        format=DatasetFormat.BUILTIN,
        source="mnist1d",
        status=DatasetStatus.READY,
        sha256="0" * 64,
        input_kind="sequence",
        input_shape=[40],
        class_names=[str(digit) for digit in range(CLASSES)],
        class_counts=[TRAIN_SIZE // CLASSES] * CLASSES,
        train_size=TRAIN_SIZE,
        test_size=TEST_SIZE,
        created_by=owner,
    )
    policies = [SamplingPolicy.objects.get(team=None, strategy=strategy) for strategy in (FULL, *BUDGETED)]
    experiment = experiment_create(
        team=team,
        user=owner,
        name="Policies on MNIST-1D",
        dataset=dataset,
        model="cnn1d",
        recipe={"rounds": ROUNDS, "batch_size": BATCH_SIZE, "eval_every": 1, "target_accuracy": TARGET_ACCURACY},
        policies=policies,
        budgets=list(BUDGETS),
        seeds=list(range(SEEDS)),
    )
    finish_executions(experiment)
    return experiment, owner


def finish_executions(experiment) -> None:
    """Mark every execution succeeded with seeded figures, one attempt and a curve of ROUNDS evaluations."""
    from django.utils import timezone

    from backend.experiments.models import Attempt, AttemptOutcome, Execution, RunMetric, RunStatus
    from workers.engine.strategies import budget_count
    from workers.engine.version import engine_commit

    rng = np.random.default_rng(0)
    runs = experiment.runs.select_related("execution", "policy").order_by("policy__strategy", "budget", "seed")
    executions = [run.execution for run in runs]
    provenance = {
        "worker": "celery@bench-worker",
        "device_name": "cpu",
        "torch_version": version("torch"),
        "engine_commit": engine_commit(),
    }
    epochs = np.arange(1, ROUNDS + 1)
    finished = timezone.now() - dt.timedelta(hours=1)
    metrics, attempts = [], []
    for execution in executions:
        strategy, budget = execution.strategy, execution.budget
        round_size = budget_count(budget, TRAIN_SIZE)
        saturation = SATURATION[strategy]
        mean = CHANCE + (FULL_ACCURACY - CHANCE) * (1 - math.exp(-budget / saturation)) / (
            1 - math.exp(-1 / saturation)
        )
        final = float(np.clip(rng.normal(mean, 0.004 + 0.03 * (1 - mean)), CHANCE, 0.99))
        rise = (1 - np.exp(-epochs / 12)) / (1 - math.exp(-ROUNDS / 12))
        curve = np.clip(final * rise + rng.normal(0, 0.01, ROUNDS) * (1 - epochs / ROUNDS), 0, 1)
        curve[-1] = final
        training = FULL_TRAINING_SECONDS * (round_size / TRAIN_SIZE) * rng.lognormal(0, 0.05)
        selection = SELECTION_SECONDS[strategy] * rng.lognormal(0, 0.2)
        evaluation = EVALUATION_SECONDS * ROUNDS * rng.lognormal(0, 0.05)
        started = finished - dt.timedelta(seconds=selection + training + evaluation)

        execution.status = RunStatus.SUCCEEDED
        execution.attempt = 1
        execution.started_at, execution.finished_at, execution.heartbeat_at = started, finished, finished
        execution.selection_seconds, execution.training_seconds = selection, training
        execution.evaluation_seconds = evaluation
        execution.final_accuracy, execution.best_accuracy = final, float(curve.max())
        execution.samples_trained = round_size * ROUNDS
        execution.rounds_completed = execution.rounds_planned = ROUNDS
        for name, value in provenance.items():
            setattr(execution, name, value)
        attempts.append(
            Attempt(
                execution=execution,
                number=1,
                started_at=started,
                ended_at=finished,
                outcome=AttemptOutcome.SUCCEEDED,
                **provenance,
            )
        )

        steps_per_round = math.ceil(round_size / BATCH_SIZE)
        wall_clock = (selection + training) * epochs / ROUNDS
        train_loss = 2.3 * np.exp(-epochs / 15) + 0.8 * (1 - curve)
        test_loss = -np.log(np.clip(curve, 0.05, 1))
        lr = 0.05 * (1 + np.cos(np.pi * epochs / ROUNDS))
        for epoch, seconds, loss, accuracy, held_out_loss, rate in zip(
            epochs.tolist(),
            wall_clock.tolist(),
            train_loss.tolist(),
            curve.tolist(),
            test_loss.tolist(),
            lr.tolist(),
            strict=True,
        ):
            metrics.append(
                RunMetric(
                    execution_id=execution.pk,
                    epoch=epoch,
                    step=epoch * steps_per_round,
                    samples_seen=epoch * round_size,
                    wall_clock_seconds=seconds,
                    evaluation_seconds=evaluation / ROUNDS,
                    train_loss=loss,
                    test_accuracy=accuracy,
                    test_loss=held_out_loss,
                    lr=rate,
                    data_fraction=budget,
                )
            )
        finished += dt.timedelta(seconds=5)

    Execution.objects.bulk_update(
        executions,
        [
            "status",
            "attempt",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "selection_seconds",
            "training_seconds",
            "evaluation_seconds",
            "final_accuracy",
            "best_accuracy",
            "samples_trained",
            "rounds_completed",
            "rounds_planned",
            *provenance,
        ],
        batch_size=100,
    )
    Attempt.objects.bulk_create(attempts)
    RunMetric.objects.bulk_create(metrics, batch_size=5000)


def grid_counts(experiment) -> dict[str, int]:
    from backend.experiments.models import Execution, RunMetric, RunStatus

    executions = Execution.objects.filter(cells__experiment=experiment)
    return {
        "runs": experiment.runs.count(),
        "succeeded": executions.filter(status=RunStatus.SUCCEEDED).count(),
        "metrics": RunMetric.objects.filter(execution__in=executions).count(),
    }


def default_urls(experiment_id: int) -> tuple[list[str], list[str]]:
    """Today's pages, plus the leaderboard URLs whose names resolve; the names that do not are returned apart."""
    from django.urls import NoReverseMatch, reverse

    urls = [url.format(experiment=experiment_id) for url in DEFAULT_PAGES]
    skipped = []
    for name in LEADERBOARD_NAMES:
        for kwargs in ({"pk": experiment_id}, {"experiment_id": experiment_id}):
            try:
                urls.append(reverse(name, kwargs=kwargs))
                break
            except NoReverseMatch:
                continue
        else:
            skipped.append(name)
    return urls, skipped


def measure(client, url: str, repeat: int, warmup: int, headers: dict[str, str] | None = None) -> Measurement:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        read_body(client.get(url, headers=headers))
    # Queries are counted on a request of their own: recording them slows the timed ones.
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers=headers)
        body = read_body(response)
    # Read now: the captured list is a slice of the connection's log, which the next request clears.
    query_count = len(queries)
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        read_body(client.get(url, headers=headers))
        seconds.append(time.perf_counter() - started)
    return Measurement(
        url=url,
        status=response.status_code,
        queries=query_count,
        median_ms=1000 * statistics.median(seconds),
        p95_ms=1000 * float(np.percentile(seconds, 95)),
        size_kb=len(body) / 1024,
        etag=response.headers.get("ETag"),
    )


def read_body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def table_row(measurement: Measurement, label: str | None = None) -> list[str]:
    return [
        label or f"`{measurement.url}`",
        str(measurement.status),
        str(measurement.queries),
        f"{measurement.median_ms:.1f}",
        f"{measurement.p95_ms:.1f}",
        f"{measurement.size_kb:.1f}",
    ]


def print_markdown(header: list[str], rows: list[list[str]]) -> None:
    # benchmarks.common has the same table, but importing it loads PyTorch, which the web process never does.
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
