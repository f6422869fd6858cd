from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_builtin_policies(sender, **kwargs) -> None:
    from backend.policies.services import policies_sync_builtin

    policies_sync_builtin()


class PoliciesConfig(AppConfig):
    name = "backend.policies"
    label = "policies"

    def ready(self) -> None:
        # Built-in policies follow the engine's registry: every migrate adds
        # the default policy of a newly registered strategy.
        post_migrate.connect(_sync_builtin_policies, sender=self)
