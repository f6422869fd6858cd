from django.contrib import admin

from backend.datasets.models import Dataset


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "format", "status", "train_size", "test_size", "created_at"]
    list_filter = ["format", "status", "team"]
    search_fields = ["name", "sha256", "source"]
    readonly_fields = ["sha256", "input_shape", "class_names", "class_counts", "train_size", "test_size"]
