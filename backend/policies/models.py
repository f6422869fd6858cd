from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.teams.models import Team


class SamplingPolicy(models.Model):
    """A strategy from the engine's registry with validated parameters.

    Built-in policies (one default per strategy) have no team and are visible
    to every team; a team's own policies belong to it.
    """

    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(max_length=100)
    strategy = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "sampling policies"
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="policy_unique_team_name"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(team__isnull=True), name="policy_unique_builtin_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_builtin(self) -> bool:
        return self.team_id is None
