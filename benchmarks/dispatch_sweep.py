"""Dispatch overhead: a sweep of tiny runs through Postgres, the broker and a worker vs in-process.

Creates a throw-away database, builds the built-in digits dataset, and times
1. enqueue: creating an experiment whose grid expands into N runs, including
   sending N messages to the broker on commit;
2. dispatch: from the first message sent until every run has succeeded on
   real worker processes (claim, heartbeat, per-epoch metric rows, results);
3. in-process: the same N run configs trained by calling the engine directly.
Per-run overhead = (dispatch wall time × workers − in-process time) / N.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/samplewise \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/11 \
    .venv/bin/python benchmarks/dispatch_sweep.py --runs 1000 --workers 1
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (concurrency)")
    parser.add_argument("--pool", default="prefork", choices=("prefork", "solo", "threads"))
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="samplewise-bench-"))
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    os.environ["SAMPLEWISE_DATA_DIR"] = str(data_dir)
    os.environ["SAMPLEWISE_QUEUE_PREFIX"] = prefix

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        run_benchmark(args, settings, connection, get_user_model(), data_dir, prefix)
    finally:
        teardown_databases(old_config, verbosity=0)


def run_benchmark(args, settings, connection, User, data_dir: Path, prefix: str) -> None:
    from backend.datasets.services import dataset_create_builtin
    from backend.experiments.models import Execution, RunMetric, RunStatus
    from backend.experiments.services import experiment_create
    from backend.policies.models import SamplingPolicy
    from backend.teams.services import team_create
    from workers.engine.datasets import load_dataset
    from workers.engine.training import train_run

    user = User.objects.create_user("bench", password="bench-password-123")
    team = team_create(name="Bench", owner=user)
    dataset = dataset_create_builtin(team=team, user=user, name="digits", builtin="digits")
    policy = SamplingPolicy.objects.get(team=None, strategy="rs2_without_replacement")
    recipe = {"rounds": 1, "batch_size": 64}

    worker = start_worker(settings, connection, prefix, args.workers, args.pool)
    try:
        started = time.perf_counter()
        experiment = experiment_create(
            team=team,
            user=user,
            name="sweep",
            dataset=dataset,
            model="mlp",
            recipe=recipe,
            policies=[policy],
            budgets=[0.1],
            seeds=list(range(args.runs)),
        )
        enqueued = time.perf_counter()
        executions = Execution.objects.filter(cells__experiment=experiment)
        while executions.filter(status=RunStatus.SUCCEEDED).count() < args.runs:
            if executions.filter(status=RunStatus.FAILED).exists():
                raise SystemExit(f"a run failed: {executions.filter(status=RunStatus.FAILED).first().error}")
            time.sleep(0.2)
        finished = time.perf_counter()
        metric_rows = RunMetric.objects.filter(execution__cells__experiment=experiment).count()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)

    arrays = load_dataset(dataset.sha256, data_dir)
    configs = [execution.config for execution in executions.order_by("pk")]
    in_process_started = time.perf_counter()
    for config in configs:
        train_run(config, arrays, device="cpu")
    in_process_seconds = time.perf_counter() - in_process_started

    enqueue_seconds = enqueued - started
    dispatch_seconds = finished - enqueued
    overhead = (dispatch_seconds * args.workers - in_process_seconds) / args.runs
    print(f"machine: {platform.node()} {os.cpu_count()} cores, broker {settings.CELERY_BROKER_URL.split('://')[0]}")
    print(f"runs: {args.runs}, worker processes: {args.workers}, metric rows written: {metric_rows}")
    print(
        f"enqueue (grid expansion + {args.runs} messages): {enqueue_seconds:.2f} s "
        f"= {args.runs / enqueue_seconds:.0f} runs/s"
    )
    print(f"dispatch until all succeeded: {dispatch_seconds:.2f} s = {args.runs / dispatch_seconds:.1f} runs/s")
    print(f"in-process, same configs: {in_process_seconds:.2f} s = {args.runs / in_process_seconds:.1f} runs/s")
    print(
        f"per-run overhead of dispatch: {overhead * 1000:.1f} ms "
        f"(dispatch / in-process = {dispatch_seconds * args.workers / in_process_seconds:.2f}x)"
    )


def start_worker(settings, connection, prefix: str, concurrency: int, pool: str) -> subprocess.Popen:
    params = connection.settings_dict
    host = params["HOST"] or "127.0.0.1"
    if host.startswith("/"):
        from urllib.parse import quote

        host = quote(host, safe="")
    port = f":{params['PORT']}" if params.get("PORT") else ""
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://{params['USER']}@{host}{port}/{params['NAME']}"
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env["CELERY_RESULT_BACKEND"] = settings.CELERY_RESULT_BACKEND
    env["SAMPLEWISE_DEVICE"] = "cpu"
    log = open(Path(tempfile.gettempdir()) / f"{prefix}worker.log", "wb")  # noqa: SIM115
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers",
        "worker",
        "--queues",
        f"{prefix}cpu",
        "--concurrency",
        str(concurrency),
        "--pool",
        pool,
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
    ]
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    time.sleep(1)
    if worker.poll() is not None:
        raise SystemExit(f"the worker exited at once; see {log.name}")
    return worker


if __name__ == "__main__":
    main()
