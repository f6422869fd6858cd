import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Runs become cells that point at executions; results, status and metrics live on the execution."""

    dependencies = [
        ('experiments', '0004_runs_to_executions'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='runmetric',
            options={'ordering': ['execution_id', 'epoch']},
        ),
        migrations.RemoveConstraint(
            model_name='run',
            name='run_unique_config_per_experiment',
        ),
        migrations.RemoveConstraint(
            model_name='run',
            name='run_status_valid',
        ),
        migrations.RemoveConstraint(
            model_name='run',
            name='run_final_accuracy_in_range',
        ),
        migrations.RemoveConstraint(
            model_name='runmetric',
            name='metric_unique_run_epoch',
        ),
        migrations.RemoveIndex(
            model_name='run',
            name='run_experiment_status',
        ),
        migrations.RemoveIndex(
            model_name='run',
            name='run_config_status',
        ),
        migrations.RemoveIndex(
            model_name='run',
            name='run_status_heartbeat',
        ),
        migrations.RemoveField(
            model_name='run',
            name='attempt',
        ),
        migrations.RemoveField(
            model_name='run',
            name='best_accuracy',
        ),
        migrations.RemoveField(
            model_name='run',
            name='checkpoint',
        ),
        migrations.RemoveField(
            model_name='run',
            name='config',
        ),
        migrations.RemoveField(
            model_name='run',
            name='config_hash',
        ),
        migrations.RemoveField(
            model_name='run',
            name='error',
        ),
        migrations.RemoveField(
            model_name='run',
            name='evaluation_seconds',
        ),
        migrations.RemoveField(
            model_name='run',
            name='final_accuracy',
        ),
        migrations.RemoveField(
            model_name='run',
            name='finished_at',
        ),
        migrations.RemoveField(
            model_name='run',
            name='heartbeat_at',
        ),
        migrations.RemoveField(
            model_name='run',
            name='queue',
        ),
        migrations.RemoveField(
            model_name='run',
            name='queued_at',
        ),
        migrations.RemoveField(
            model_name='run',
            name='resumed_from_round',
        ),
        migrations.RemoveField(
            model_name='run',
            name='reused_from',
        ),
        migrations.RemoveField(
            model_name='run',
            name='samples_trained',
        ),
        migrations.RemoveField(
            model_name='run',
            name='selection_seconds',
        ),
        migrations.RemoveField(
            model_name='run',
            name='started_at',
        ),
        migrations.RemoveField(
            model_name='run',
            name='status',
        ),
        migrations.RemoveField(
            model_name='run',
            name='time_to_target_seconds',
        ),
        migrations.RemoveField(
            model_name='run',
            name='training_seconds',
        ),
        migrations.RemoveField(
            model_name='run',
            name='worker',
        ),
        migrations.RemoveField(
            model_name='runmetric',
            name='run',
        ),
        migrations.AlterField(
            model_name='run',
            name='execution',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='cells', to='experiments.execution'),
        ),
        migrations.AlterField(
            model_name='runmetric',
            name='execution',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='metrics', to='experiments.execution'),
        ),
        migrations.AddConstraint(
            model_name='run',
            constraint=models.UniqueConstraint(fields=('experiment', 'execution'), name='run_unique_execution_per_experiment'),
        ),
        migrations.AddConstraint(
            model_name='run',
            constraint=models.UniqueConstraint(fields=('experiment', 'policy', 'budget', 'seed'), name='run_unique_cell'),
        ),
        migrations.AddConstraint(
            model_name='runmetric',
            constraint=models.UniqueConstraint(fields=('execution', 'epoch'), name='metric_unique_execution_epoch'),
        ),
        migrations.AddIndex(
            model_name='execution',
            index=models.Index(fields=['status', 'heartbeat_at'], name='execution_status_heartbeat'),
        ),
        migrations.AddIndex(
            model_name='execution',
            index=models.Index(fields=['status', 'device_kind', 'enqueued_at'], name='execution_waiting'),
        ),
        migrations.AddConstraint(
            model_name='execution',
            constraint=models.UniqueConstraint(fields=('team', 'key_hash'), name='execution_unique_key_per_team'),
        ),
        migrations.AddConstraint(
            model_name='execution',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['queued', 'running', 'succeeded', 'failed', 'canceled'])), name='execution_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='execution',
            constraint=models.CheckConstraint(condition=models.Q(('device_kind__in', ['cpu', 'cuda'])), name='execution_device_kind_valid'),
        ),
        migrations.AddConstraint(
            model_name='execution',
            constraint=models.CheckConstraint(condition=models.Q(('final_accuracy__isnull', True), models.Q(('final_accuracy__gte', 0), ('final_accuracy__lte', 1)), _connector='OR'), name='execution_final_accuracy_in_range'),
        ),
        migrations.AddConstraint(
            model_name='attempt',
            constraint=models.UniqueConstraint(fields=('execution', 'number'), name='attempt_unique_number'),
        ),
        migrations.AddConstraint(
            model_name='attempt',
            constraint=models.CheckConstraint(condition=models.Q(('outcome__in', ['running', 'succeeded', 'failed', 'canceled', 'lost', 'released'])), name='attempt_outcome_valid'),
        ),
    ]
