from django.contrib import admin

from backend.policies.models import SamplingPolicy


@admin.register(SamplingPolicy)
class SamplingPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "strategy", "team", "created_at"]
    list_filter = ["strategy", "team"]
    search_fields = ["name", "strategy"]
