"""Selection at scale: every strategy's selection on all 50,000 CIFAR-10 training images.

Each strategy runs in a process of its own, which loads the dataset, builds the
run (small_cnn, r = 10 %), and times its first selection: proxy training for
``--proxy-rounds`` rounds on all the data, scoring, and the search. The parent
reads the child's peak resident memory from the kernel (``wait4``), beside a
child that only loads the data and builds the run, so the table shows what
the selection itself adds. One full-data training round is timed the same way,
to express each selection as a multiple of it.

    python -m benchmarks.selection_scale --sha256 <imported CIFAR-10>
    python -m benchmarks.selection_scale --strategies kcenter_greedy,craig --train-size 5000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict

import torch

from benchmarks.cifar10_rs2 import ARCHIVE, PROTOCOLS
from benchmarks.common import describe_run, print_markdown, save_json
from workers.engine.datasets import balanced_subset, import_dataset, load_dataset, load_info
from workers.engine.recipe import resolve_recipe
from workers.engine.strategies import STRATEGIES, get_strategy
from workers.engine.training import Callbacks, DeviceData, Trainer, check_run_config, resolve_device

SKIPPED = ("full", "full_short")
BASELINE = "none"
FULL_ROUND = "full_round"


def measure_one(args: argparse.Namespace) -> dict:
    """In the child: load, build the run, and time its first selection (or one full-data round)."""
    device = resolve_device(args.device)
    dataset = load_dataset(args.sha256, args.data_dir)
    if args.train_size < len(dataset.y_train):
        dataset = balanced_subset(dataset, train_per_class=args.train_size // dataset.num_classes, seed=0)
    recipe = resolve_recipe({**PROTOCOLS["cpu"]["recipe"], "rounds": 1, "eval_every": 1})
    key = args.one
    strategy = "full" if key in (BASELINE, FULL_ROUND) else key
    params = {}
    if strategy not in ("full",) and any(param.name == "proxy_rounds" for param in get_strategy(strategy).params):
        params["proxy_rounds"] = args.proxy_rounds
    config = check_run_config(
        {
            "model": "small_cnn",
            "recipe": recipe,
            "strategy": strategy,
            "params": params,
            "budget": args.budget,
            "seed": 0,
        }
    )
    data = DeviceData(dataset, device, channels_last=True)
    trainer = Trainer(config, data, callbacks=Callbacks(), evaluate=False)
    seconds = 0.0
    if key == FULL_ROUND:
        seconds = trainer.fit().training_seconds
    elif key != BASELINE:
        trainer.timer.start()
        trainer._select(0)
        seconds = trainer.timer.stop()
    return {"strategy": key, "seconds": seconds, "params": asdict(config)["params"], "train_size": data.train_size}


def run_child(args: argparse.Namespace, key: str) -> dict:
    command = [sys.executable, "-m", "benchmarks.selection_scale", "--one", key, "--sha256", args.sha256]
    command += ["--data-dir", args.data_dir, "--device", args.device, "--budget", str(args.budget)]
    command += ["--proxy-rounds", str(args.proxy_rounds), "--train-size", str(args.train_size)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    # A selection that outlasts --timeout is stopped and reported as such rather than holding up the table.
    timer = threading.Timer(args.timeout, child.kill)
    timer.start()
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    timer.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        elapsed = time.perf_counter() - started
        failure = f"stopped after {args.timeout:g} s" if elapsed >= args.timeout else f"exit {child.returncode}"
        return {"strategy": key, "failed": failure, "process_seconds": elapsed, "peak_rss_mib": usage.ru_maxrss / 1024}
    record = json.loads(output.strip().splitlines()[-1])
    # ru_maxrss is in KiB on Linux.
    record["peak_rss_mib"] = usage.ru_maxrss / 1024
    record["process_seconds"] = time.perf_counter() - started
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", default=ARCHIVE)
    parser.add_argument("--sha256")
    parser.add_argument("--data-dir", default="var/data")
    parser.add_argument("--strategies", default=",".join(key for key in STRATEGIES if key not in SKIPPED))
    parser.add_argument("--budget", type=float, default=0.1)
    parser.add_argument("--proxy-rounds", type=int, default=1)
    parser.add_argument("--train-size", type=int, default=50_000)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one strategy's process may take")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--json", default="benchmarks/results/selection_scale.json")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(args)))
        return 0
    if not args.sha256:
        args.sha256 = import_dataset(args.archive, args.data_dir).sha256
    load_info(args.sha256, args.data_dir)

    started = time.perf_counter()
    baseline = run_child(args, BASELINE)
    full_round = run_child(args, FULL_ROUND)
    for reference in (baseline, full_round):
        if "failed" in reference:
            raise SystemExit(f"the {reference['strategy']} measurement failed ({reference['failed']}); raise --timeout")
    print(f"baseline peak RSS {baseline['peak_rss_mib']:.0f} MiB; one full-data round {full_round['seconds']:.1f} s")
    records = []
    for key in args.strategies.split(","):
        record = run_child(args, key)
        records.append(record)
        print(json.dumps(record), flush=True)
    header = ["strategy", "selection (s)", "× one full-data round", "peak RSS (MiB)", "added over loading (MiB)"]
    rows = []
    for record in records:
        if "failed" in record:
            peak = record["peak_rss_mib"]
            added = f"{round(peak - baseline['peak_rss_mib']):+d}"
            rows.append([record["strategy"], record["failed"], "—", f"{peak:.0f}", added])
            continue
        rows.append(
            [
                record["strategy"],
                f"{record['seconds']:.1f}",
                f"{record['seconds'] / full_round['seconds']:.2f}×",
                f"{record['peak_rss_mib']:.0f}",
                f"{round(record['peak_rss_mib'] - baseline['peak_rss_mib']):+d}",
            ]
        )
    device = resolve_device(args.device)
    print(
        f"\n{baseline['train_size']} training images, small_cnn, r = {args.budget:g}, proxies trained "
        f"{args.proxy_rounds} round(s), device {device}, {torch.get_num_threads()} threads; "
        f"{(time.perf_counter() - started) / 60:.1f} min in all"
    )
    print_markdown(header, rows)
    save_json(
        args.json,
        {
            **describe_run(device),
            "baseline": baseline,
            "full_round": full_round,
            "table": [header, *rows],
            "records": records,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
