from django.contrib import admin

from backend.experiments.models import Experiment, Run, RunMetric, ShareLink


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "dataset", "model", "queue", "created_at"]
    list_filter = ["team", "model", "queue"]
    search_fields = ["name", "description"]
    filter_horizontal = ["policies"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "experiment", "policy", "budget", "seed", "status", "final_accuracy", "attempt"]
    list_filter = ["status", "queue", "policy"]
    search_fields = ["config_hash", "experiment__name"]
    raw_id_fields = ["experiment", "reused_from"]


@admin.register(RunMetric)
class RunMetricAdmin(admin.ModelAdmin):
    list_display = ["run", "epoch", "test_accuracy", "wall_clock_seconds", "recorded_at"]
    raw_id_fields = ["run"]


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ["experiment", "created_by", "created_at", "revoked_at"]
    raw_id_fields = ["experiment"]
