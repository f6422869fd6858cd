"""Upload memory: the web process's resident memory while a CIFAR-sized archive is uploaded and imported.

Creates a throw-away database, starts the web server (gunicorn with one worker process,
as in production, or ``runserver``) and a Celery worker (the command line ``runworker``
builds), uploads a small .npz to warm the server up, then streams the archive to
``POST /api/v1/datasets/?team=<id>`` and samples the web process's RSS from
``/proc/<pid>/status`` before, during and after the upload, until the worker has
imported it. Prints the peaks, the worker's own peak and the import's duration in the
worker (from the dataset row's import timestamps).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/samplewise \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/11 \
    .venv/bin/python benchmarks/upload_memory.py --archive /work/shared/datasets/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

DEFAULT_ARCHIVE = Path("/work/shared/datasets/cifar10-jpeg.tar.gz")
SAMPLE_SECONDS = 0.01
SEND_CHUNK_BYTES = 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE, help="the file to upload (read in place)")
    parser.add_argument("--server", choices=("gunicorn", "runserver"), default="gunicorn")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the import")
    args = parser.parse_args()
    if not args.archive.is_file():
        raise SystemExit(f"{args.archive}: no such file")

    data_dir = Path(tempfile.mkdtemp(prefix="samplewise-upload-bench-"))
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    os.environ["SAMPLEWISE_DATA_DIR"] = str(data_dir)
    os.environ["SAMPLEWISE_QUEUE_PREFIX"] = prefix

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        run_benchmark(args, connection, data_dir)
    finally:
        teardown_databases(old_config, verbosity=0)


def database_url(connection) -> str:
    params = connection.settings_dict
    host = params["HOST"] or "127.0.0.1"
    if host.startswith("/"):
        host = quote(host, safe="")
    port = f":{params['PORT']}" if params.get("PORT") else ""
    password = f":{quote(params['PASSWORD'], safe='')}" if params.get("PASSWORD") else ""
    return f"postgres://{quote(params['USER'] or 'postgres', safe='')}{password}@{host}{port}/{params['NAME']}"


def rss_kib(pid: int, field: str = "VmRSS") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Sampler(threading.Thread):
    """Samples a process's RSS every SAMPLE_SECONDS, labelled with the current phase."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.phase = "before"
        self.samples: list[tuple[str, int]] = []
        self._finished = threading.Event()

    def run(self) -> None:
        while not self._finished.wait(SAMPLE_SECONDS):
            value = rss_kib(self.pid)
            if value is not None:
                self.samples.append((self.phase, value))

    def stop(self) -> None:
        self._finished.set()
        self.join()

    def peak(self, phase: str) -> int:
        return max(value for label, value in self.samples if label == phase)

    def first(self, phase: str) -> int:
        return next(value for label, value in self.samples if label == phase)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_web(server: str, port: int, env: dict, log: Path) -> tuple[subprocess.Popen, int]:
    """The web server and the pid of the process that serves requests."""
    if server == "gunicorn":
        command = [sys.executable, "-m", "gunicorn", "backend.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", "1", "--timeout", "600"]
    else:
        command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the web server exited; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        raise SystemExit(f"the web server did not listen on {port}; see {log}")
    if server == "gunicorn":
        while not children(process.pid):
            time.sleep(0.1)
        return process, children(process.pid)[0]
    return process, process.pid


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    from backend.experiments.management.commands.runworker import worker_invocation

    invocation = worker_invocation(device="cpu", concurrency=1, beat=False)
    worker_env = {**invocation.env, **env}
    process = subprocess.Popen(
        invocation.argv,
        cwd=ROOT,
        env=worker_env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while "ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start; see {log}")
        time.sleep(0.2)
    return process


def post_upload(port: int, token: str, team_id: int, name: str, filename: str, stream, size: int) -> dict:
    """Stream a multipart upload from ``stream`` without holding it in this process either."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.putrequest("POST", f"/api/v1/datasets/?team={team_id}")
    connection.putheader("Authorization", f"Token {token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head) + size + len(tail)))
    connection.endheaders()
    connection.send(head)
    while chunk := stream.read(SEND_CHUNK_BYTES):
        connection.send(chunk)
    connection.send(tail)
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    if response.status != 202:
        raise SystemExit(f"the upload was answered {response.status}: {body}")
    return body


def wait_imported(dataset_id: int, timeout: float):
    from backend.datasets.models import Dataset, DatasetStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dataset = Dataset.objects.get(pk=dataset_id)
        if dataset.status == DatasetStatus.FAILED:
            raise SystemExit(f"the import failed: {dataset.error}")
        if dataset.status == DatasetStatus.READY:
            return dataset
        time.sleep(0.2)
    raise SystemExit(f"the import did not finish in {timeout:.0f} s")


def warm_up_file() -> tuple[io.BytesIO, int]:
    import numpy as np

    buffer = io.BytesIO()
    labels = np.arange(20) % 2
    np.savez(
        buffer,
        x_train=np.zeros((20, 3), np.float32),
        y_train=labels,
        x_test=np.zeros((4, 3), np.float32),
        y_test=labels[:4],
    )
    size = buffer.tell()
    buffer.seek(0)
    return buffer, size


IN_PROCESS_IMPORT = """
import sys, tempfile
from pathlib import Path
from workers.engine.datasets import import_dataset
import_dataset(Path(sys.argv[1]), tempfile.mkdtemp())
print(next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:")))
"""


def import_in_a_fresh_process(archive: Path) -> int:
    """Peak RSS (KiB) of a process that only decodes the archive, as the web request did before imports moved out."""
    result = subprocess.run(
        [sys.executable, "-c", IN_PROCESS_IMPORT, str(archive)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(result.stdout.split()[-1])


def run_benchmark(args, connection, data_dir: Path) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from backend.teams.services import team_create

    user = get_user_model().objects.create_user("bench", password="bench-password-123")
    team = team_create(name="Bench", owner=user)
    token = Token.objects.create(user=user).key

    logs = Path(tempfile.mkdtemp(prefix="samplewise-upload-bench-logs-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
        "SAMPLEWISE_DATA_DIR": str(data_dir),
        "SAMPLEWISE_QUEUE_PREFIX": settings.SAMPLEWISE_QUEUE_PREFIX,
        "SAMPLEWISE_DEVICE": "cpu",
    }
    port = free_port()
    web, web_pid = start_web(args.server, port, env, logs / "web.log")
    worker = start_worker(env, logs / "worker.log")
    try:
        # The first upload loads the modules every upload needs; the measured one starts from there.
        warm_stream, warm_size = warm_up_file()
        warm = post_upload(port, token, team.pk, "warm-up", "warm.npz", warm_stream, warm_size)
        wait_imported(warm["id"], args.timeout)

        sampler = Sampler(web_pid)
        sampler.start()
        time.sleep(2)
        size = args.archive.stat().st_size
        sampler.phase = "during"
        sent_at = time.perf_counter()
        with args.archive.open("rb") as stream:
            accepted = post_upload(port, token, team.pk, "CIFAR-10", args.archive.name, stream, size)
        answered_at = time.perf_counter()
        sampler.phase = "after"
        dataset = wait_imported(accepted["id"], args.timeout)
        ready_at = time.perf_counter()
        time.sleep(2)
        sampler.stop()
        web_hwm = rss_kib(web_pid, "VmHWM")
        worker_peaks = [rss_kib(child, "VmHWM") or 0 for child in children(worker.pid)]
    finally:
        for process in (web, worker):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)

    import_seconds = (dataset.import_finished_at - dataset.import_started_at).total_seconds()
    in_process_kib = import_in_a_fresh_process(args.archive)

    def mib(kib: int) -> str:
        return f"{kib / 1024:.1f} MiB"

    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"web server: {args.server} (one worker process), broker {settings.CELERY_BROKER_URL.split('://')[0]}")
    print(f"archive: {args.archive.name}, {size / 1e6:.1f} MB")
    print(f"upload answered in {answered_at - sent_at:.2f} s (202, pending); ready {ready_at - sent_at:.1f} s after")
    print(
        f"import in the worker: {import_seconds:.1f} s; {dataset.train_size} train / {dataset.test_size} test "
        f"images of {dataset.input_shape}, {dataset.num_classes} classes"
    )
    print(f"web process RSS before the upload: {mib(sampler.first('before'))} (peak {mib(sampler.peak('before'))})")
    print(f"web process RSS peak during the upload: {mib(sampler.peak('during'))}")
    print(f"web process RSS peak after it, while the worker imported: {mib(sampler.peak('after'))}")
    print(f"web process peak RSS over its life (VmHWM): {mib(web_hwm or 0)}")
    print(f"worker pool process peak RSS (VmHWM): {mib(max(worker_peaks, default=0))}")
    print(f"the same import decoded in a fresh Python process, as a request used to: peak RSS {mib(in_process_kib)}")
    print(f"samples: {len(sampler.samples)} every {SAMPLE_SECONDS * 1000:.0f} ms; logs in {logs}")


if __name__ == "__main__":
    main()
