"""A worker bootstep that keeps this worker's presence row fresh while it runs.

It runs on the worker's own timer in the main process, which never trains,
and closes its database connection after every beat so that no connection
is shared with the pool processes forked from it.
"""

from __future__ import annotations

import logging

from celery import bootsteps

logger = logging.getLogger(__name__)


def presence_device_kind(device: str, queues: list[str]) -> str:
    """The device kind a worker trains on, without touching CUDA in this process."""
    from backend.experiments.execution import device_kind_of, queue_name
    from backend.experiments.models import Queue

    if device == "auto":
        return device_kind_of("cuda" if queue_name(Queue.GPU) in queues else "cpu")
    return device_kind_of(device)


class PresenceStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_entry = None

    def start(self, worker) -> None:
        from django.conf import settings

        self.beat(worker)
        self.timer_entry = worker.timer.call_repeatedly(settings.SAMPLEWISE_HEARTBEAT_SECONDS, self.beat, (worker,))

    def stop(self, worker) -> None:
        from django.db import connection

        from backend.experiments.presence import worker_presence_remove

        if self.timer_entry is not None:
            self.timer_entry.cancel()
        try:
            worker_presence_remove(name=worker.hostname)
        except Exception:
            logger.exception("could not remove the presence of %s", worker.hostname)
        finally:
            connection.close()

    def beat(self, worker) -> None:
        from django.conf import settings
        from django.db import connection

        from backend.experiments.presence import worker_presence_beat
        from workers.engine.version import ENGINE_VERSION

        queues = sorted(worker.app.amqp.queues.consume_from or {})
        try:
            worker_presence_beat(
                name=worker.hostname,
                queues=queues,
                device_kind=presence_device_kind(settings.SAMPLEWISE_DEVICE, queues),
                engine_version=ENGINE_VERSION,
            )
        except Exception as error:
            logger.warning("could not record the presence of %s: %s", worker.hostname, error)
        finally:
            connection.close()
