"""Start a Celery worker for one device: ``--device cuda:0`` consumes the gpu queue, ``cpu`` the cpu queue.

CUDA is never initialised in this process: GPU detection runs in a child
interpreter, and the worker's pool processes are the first to touch the GPU.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def cuda_device_count() -> int:
    probe = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return int(probe.stdout.strip() or 0) if probe.returncode == 0 else 0


@dataclass(frozen=True)
class WorkerInvocation:
    device: str
    queue: str
    argv: list[str]
    env: dict[str, str]


def worker_invocation(*, device: str, concurrency: int, beat: bool, loglevel: str = "INFO") -> WorkerInvocation:
    """The celery command line and environment for a worker on ``device`` (cpu or cuda[:N])."""
    env = dict(os.environ)
    prefix = settings.SAMPLEWISE_QUEUE_PREFIX
    if device.startswith("cuda"):
        index = device.partition(":")[2] or "0"
        # The worker sees exactly one GPU, so every run in it uses "cuda".
        env["CUDA_VISIBLE_DEVICES"] = index
        env["SAMPLEWISE_DEVICE"] = "cuda"
        queue, concurrency, name = f"{prefix}gpu", 1, f"gpu{index}"
    else:
        env["SAMPLEWISE_DEVICE"] = "cpu"
        queue, name = f"{prefix}cpu", "cpu"
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers",
        "worker",
        "--queues",
        queue,
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@%h",
        "--loglevel",
        loglevel,
    ]
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        # The filesystem transport has no broadcast: skip the gossip and mingle handshakes.
        argv += ["--without-gossip", "--without-mingle"]
    if beat:
        argv += ["--beat", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")]
    return WorkerInvocation(device=device, queue=queue, argv=argv, env=env)


class Command(BaseCommand):
    help = "Start a worker for a device (one GPU worker process per GPU, concurrency 1)."

    def add_arguments(self, parser):
        parser.add_argument("--device", default=settings.SAMPLEWISE_DEVICE, help="auto, cpu, cuda or cuda:N")
        parser.add_argument("--concurrency", type=int, default=1, help="CPU worker processes (GPU workers use 1)")
        parser.add_argument("--beat", action="store_true", help="also run the periodic reaper (one per deployment)")
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args, device: str, concurrency: int, beat: bool, loglevel: str, **options):
        if not DEVICE_PATTERN.match(device):
            raise CommandError(f"--device must be auto, cpu, cuda or cuda:N; got {device!r}")
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        if device == "auto":
            device = "cuda:0" if cuda_device_count() > 0 else "cpu"
        invocation = worker_invocation(device=device, concurrency=concurrency, beat=beat, loglevel=loglevel)
        self.stdout.write(f"Starting a {device} worker on queue {invocation.queue}")
        self.stdout.flush()
        os.execve(sys.executable, invocation.argv, invocation.env)
