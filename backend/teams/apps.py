from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "backend.teams"
    label = "teams"
