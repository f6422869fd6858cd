"""Show queue depth, live workers, the executions they hold, and why queued runs wait."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from backend.experiments.selectors import queue_overview


class Command(BaseCommand):
    help = "Print queue depth per queue, live workers, running executions and queues no worker serves."

    def handle(self, *args, **options):
        overview = queue_overview()
        self.stdout.write(f"Broker: {settings.CELERY_BROKER_URL.split('@')[-1]}")
        self.stdout.write("Queues (messages waiting / executions queued in the database):")
        for queue in overview["queues"]:
            waiting = "?" if queue["messages"] is None else queue["messages"]
            self.stdout.write(f"  {queue['name']:<24} {waiting!s:>8} / {queue['runs_queued']}")
        self.stdout.write("Live workers (device, engine, queues, last seen):")
        if not overview["workers"]:
            self.stdout.write("  none")
        for worker in overview["workers"]:
            queues = ",".join(worker["queues"])
            self.stdout.write(
                f"  {worker['name']:<40} {worker['device_kind']:<5} {worker['engine_version']:<8} {queues}  "
                f"{worker['seen_at']:%H:%M:%S}"
            )
        self.stdout.write("Running executions (worker, count, last heartbeat):")
        if not overview["running"]:
            self.stdout.write("  none")
        for row in overview["running"]:
            self.stdout.write(f"  {row['worker']:<40} {row['running']:>3}  {row['last_heartbeat']:%H:%M:%S}")
        for wait in overview["waiting"]:
            self.stdout.write(f"Waiting: {wait.reason}; {wait.runs} execution(s) queued on {wait.queue}")
