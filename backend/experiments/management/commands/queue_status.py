"""Show queue depth, live workers and the runs they hold."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from backend.experiments.selectors import queue_overview


class Command(BaseCommand):
    help = "Print queue depth per queue, live workers and running runs."

    def handle(self, *args, **options):
        overview = queue_overview()
        self.stdout.write(f"Broker: {settings.CELERY_BROKER_URL.split('@')[-1]}")
        self.stdout.write("Queues (messages waiting / runs queued in the database):")
        for queue in overview["queues"]:
            waiting = "?" if queue["messages"] is None else queue["messages"]
            self.stdout.write(f"  {queue['name']:<24} {waiting!s:>8} / {queue['runs_queued']}")
        self.stdout.write("Workers (runs running, last heartbeat):")
        if not overview["workers"]:
            self.stdout.write("  none running a run")
        for worker in overview["workers"]:
            self.stdout.write(f"  {worker['worker']:<40} {worker['running']:>3}  {worker['last_heartbeat']:%H:%M:%S}")
        if overview["responding"] is not None:
            self.stdout.write(f"Workers answering a ping: {', '.join(overview['responding']) or 'none'}")
