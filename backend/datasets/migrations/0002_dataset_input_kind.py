from pathlib import Path

from django.conf import settings
from django.db import migrations, models

BUILTIN_KINDS = {"mnist1d": "sequence", "digits": "image"}


def stored_kind(sha256: str) -> str:
    """The kind recorded in the canonical file, when this machine's store holds it."""
    import numpy as np

    from workers.engine.datasets import dataset_path

    try:
        path = dataset_path(sha256, Path(settings.SAMPLEWISE_DATA_DIR))
        with np.load(path, allow_pickle=False) as arrays:
            return str(arrays["kind"])
    except Exception:
        return ""


def guess_kind(dataset) -> str:
    if dataset.format == "csv":
        return "features"
    if dataset.format == "builtin" and dataset.source in BUILTIN_KINDS:
        return BUILTIN_KINDS[dataset.source]
    if len(dataset.input_shape or []) == 3:
        return "image"
    return ""


def fill_input_kinds(apps, schema_editor):
    Dataset = apps.get_model("datasets", "Dataset")
    for dataset in Dataset.objects.filter(input_kind=""):
        kind = (stored_kind(dataset.sha256) if dataset.sha256 else "") or guess_kind(dataset)
        if kind:
            Dataset.objects.filter(pk=dataset.pk).update(input_kind=kind)


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="dataset",
            name="input_kind",
            field=models.CharField(
                blank=True,
                choices=[("image", "Images"), ("sequence", "1-D signals"), ("features", "Feature vectors")],
                max_length=10,
            ),
        ),
        migrations.RunPython(fill_input_kinds, migrations.RunPython.noop),
    ]
