from django.contrib import admin

from backend.experiments.models import Attempt, Execution, Experiment, Run, RunMetric, ShareLink, WorkerPresence


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "dataset", "model", "queue", "created_at"]
    list_filter = ["team", "model", "queue"]
    search_fields = ["name", "description"]
    filter_horizontal = ["policies"]


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    readonly_fields = ["number", "worker", "device_name", "started_at", "ended_at", "outcome", "resumed_from_round"]


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "status", "device_kind", "engine_version", "final_accuracy", "attempt", "worker"]
    list_filter = ["status", "device_kind", "engine_version"]
    search_fields = ["key_hash"]
    raw_id_fields = ["team"]
    exclude = ["test_predictions"]
    inlines = [AttemptInline]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "experiment", "policy", "budget", "seed", "execution", "reused", "canceled_at"]
    list_filter = ["policy", "reused"]
    search_fields = ["experiment__name"]
    raw_id_fields = ["experiment", "execution"]


@admin.register(RunMetric)
class RunMetricAdmin(admin.ModelAdmin):
    list_display = ["execution", "epoch", "test_accuracy", "wall_clock_seconds", "recorded_at"]
    raw_id_fields = ["execution"]


@admin.register(WorkerPresence)
class WorkerPresenceAdmin(admin.ModelAdmin):
    list_display = ["name", "device_kind", "engine_version", "queues", "seen_at"]


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ["experiment", "created_by", "created_at", "revoked_at"]
    raw_id_fields = ["experiment"]
