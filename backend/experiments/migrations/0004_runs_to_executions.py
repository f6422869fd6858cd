"""Move every run's status, figures and curve onto one execution per (team, configuration, provenance).

Results of finished runs were produced by engine code that carried no version:
they are kept under the engine version "unversioned", so they stay visible but
are never reused for new experiments. Queued and running runs have produced
nothing final; they restart from scratch under the current engine (their old
checkpoints were named by configuration alone and may belong to another team).
Identical configurations in one team collapse into one execution: a succeeded
run wins over others, then the most recent; the other's curve is dropped.
"""

import hashlib
import json

from django.db import migrations

LEGACY_ENGINE_VERSION = "unversioned"
CURRENT_ENGINE_VERSION = "0.4.0"
READING_KEYS = ("target_accuracy",)
RESULT_FIELDS = (
    "selection_seconds",
    "training_seconds",
    "evaluation_seconds",
    "final_accuracy",
    "best_accuracy",
    "samples_trained",
)


def canonical_hash(payload) -> str:
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def training_config(config: dict) -> dict:
    config = dict(config)
    config["recipe"] = {key: value for key, value in config["recipe"].items() if key not in READING_KEYS}
    return config


def preference(run) -> tuple:
    """Sort key: succeeded runs first, then the most recently finished or queued."""
    moment = run.finished_at or run.queued_at
    return (run.status != "succeeded", -moment.timestamp() if moment else 0, -run.pk)


def forwards(apps, schema_editor):
    Run = apps.get_model("experiments", "Run")
    Execution = apps.get_model("experiments", "Execution")
    Experiment = apps.get_model("experiments", "Experiment")
    RunMetric = apps.get_model("experiments", "RunMetric")

    for experiment in Experiment.objects.all():
        recipe = {key: value for key, value in experiment.recipe.items() if key not in READING_KEYS}
        Experiment.objects.filter(pk=experiment.pk).update(recipe_hash=canonical_hash(recipe))

    originals = sorted(Run.objects.filter(reused_from__isnull=True).select_related("experiment"), key=preference)
    execution_of_run: dict[int, int] = {}
    executions: dict[tuple[int, str], int] = {}
    dropped_curves: list[int] = []
    restarted: list[int] = []
    for run in originals:
        config = training_config(run.config)
        device_kind = "cuda" if run.queue == "gpu" else "cpu"
        finished = run.status in ("succeeded", "failed", "canceled")
        engine_version = LEGACY_ENGINE_VERSION if finished else CURRENT_ENGINE_VERSION
        key_hash = canonical_hash({"config": config, "device_kind": device_kind, "engine_version": engine_version})
        team_id = run.experiment.team_id
        existing = executions.get((team_id, key_hash))
        if existing is not None:
            execution_of_run[run.pk] = existing
            dropped_curves.append(run.pk)
            continue
        values = {field: getattr(run, field) for field in RESULT_FIELDS} if finished else {}
        execution = Execution.objects.create(
            team_id=team_id,
            key_hash=key_hash,
            config=config,
            device_kind=device_kind,
            engine_version=engine_version,
            status=run.status if finished else "queued",
            attempt=run.attempt,
            worker=run.worker if finished else "",
            queued_at=run.queued_at,
            started_at=run.started_at if finished else None,
            finished_at=run.finished_at if finished else None,
            resumed_from_round=run.resumed_from_round if finished else None,
            error=run.error,
            **values,
        )
        executions[(team_id, key_hash)] = execution.pk
        execution_of_run[run.pk] = execution.pk
        if not finished:
            restarted.append(run.pk)

    for run in Run.objects.filter(reused_from__isnull=False):
        Run.objects.filter(pk=run.pk).update(execution_id=execution_of_run[run.reused_from_id], reused=True)
    for run_id, execution_id in execution_of_run.items():
        Run.objects.filter(pk=run_id).update(execution_id=execution_id, reused=run_id in dropped_curves)

    RunMetric.objects.filter(run_id__in=dropped_curves + restarted).delete()
    metric_table = RunMetric._meta.db_table
    run_table = Run._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {metric_table} AS metric SET execution_id = run.execution_id "
            f"FROM {run_table} AS run WHERE metric.run_id = run.id"
        )

    # An experiment may now hold two cells of one execution (configs that differed only in
    # the target); keep the first of each.
    seen: set[tuple[int, int]] = set()
    for run in Run.objects.order_by("pk"):
        key = (run.experiment_id, run.execution_id)
        if key in seen:
            run.delete()
        seen.add(key)


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0003_executions"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
