import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    """Executions, their attempts and worker presence, beside the old run columns until the data moves."""

    dependencies = [
        ('experiments', '0002_run_resumed_from_round'),
        ('teams', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='Attempt',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveIntegerField()),
                ('worker', models.CharField(blank=True, max_length=255)),
                ('device_name', models.CharField(blank=True, max_length=128)),
                ('torch_version', models.CharField(blank=True, max_length=64)),
                ('engine_commit', models.CharField(blank=True, max_length=64)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('ended_at', models.DateTimeField(blank=True, null=True)),
                ('outcome', models.CharField(choices=[('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('canceled', 'Canceled'), ('lost', 'Worker lost'), ('released', 'Given back')], default='running', max_length=10)),
                ('resumed_from_round', models.PositiveIntegerField(blank=True, null=True)),
                ('note', models.TextField(blank=True)),
            ],
            options={
                'ordering': ['execution_id', 'number'],
            },
        ),
        migrations.CreateModel(
            name='Execution',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key_hash', models.CharField(max_length=64)),
                ('config', models.JSONField()),
                ('device_kind', models.CharField(choices=[('cpu', 'CPU'), ('cuda', 'CUDA')], default='cpu', max_length=8)),
                ('engine_version', models.CharField(max_length=32)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('canceled', 'Canceled')], default='queued', max_length=10)),
                ('attempt', models.PositiveIntegerField(default=0)),
                ('requeues', models.PositiveIntegerField(default=0)),
                ('worker', models.CharField(blank=True, max_length=255)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('queued_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('enqueued_at', models.DateTimeField(blank=True, null=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('selection_seconds', models.FloatField(blank=True, null=True)),
                ('training_seconds', models.FloatField(blank=True, null=True)),
                ('evaluation_seconds', models.FloatField(blank=True, null=True)),
                ('final_accuracy', models.FloatField(blank=True, null=True)),
                ('best_accuracy', models.FloatField(blank=True, null=True)),
                ('samples_trained', models.BigIntegerField(blank=True, null=True)),
                ('rounds_completed', models.PositiveIntegerField(blank=True, null=True)),
                ('rounds_planned', models.PositiveIntegerField(blank=True, null=True)),
                ('resumed_from_round', models.PositiveIntegerField(blank=True, null=True)),
                ('checkpoint', models.CharField(blank=True, max_length=500)),
                ('checkpoint_round', models.PositiveIntegerField(blank=True, null=True)),
                ('test_predictions', models.BinaryField(blank=True, null=True)),
                ('test_predictions_dtype', models.CharField(blank=True, max_length=8)),
                ('error', models.TextField(blank=True)),
                ('engine_commit', models.CharField(blank=True, max_length=64)),
                ('torch_version', models.CharField(blank=True, max_length=64)),
                ('device_name', models.CharField(blank=True, max_length=128)),
            ],
            options={
                'ordering': ['id'],
            },
        ),
        migrations.CreateModel(
            name='WorkerPresence',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=255, unique=True)),
                ('queues', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=200), default=list, size=None)),
                ('device_kind', models.CharField(choices=[('cpu', 'CPU'), ('cuda', 'CUDA')], max_length=8)),
                ('engine_version', models.CharField(max_length=32)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('seen_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.AddField(
            model_name='execution',
            name='team',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='executions', to='teams.team'),
        ),
        migrations.AddField(
            model_name='attempt',
            name='execution',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempts', to='experiments.execution'),
        ),
        migrations.AddField(
            model_name='run',
            name='execution',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='cells', to='experiments.execution'),
        ),
        migrations.AddField(
            model_name='run',
            name='reused',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='run',
            name='canceled_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='run',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='runmetric',
            name='execution',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='metrics', to='experiments.execution'),
        ),
    ]
