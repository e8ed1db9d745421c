"""App config of the throwaway tenant app (see the package docstring)."""

from django.apps import AppConfig


class ReplayProbeConfig(AppConfig):
    name = "tests.tenants.replay_probe"
    label = "replay_probe"
    default_auto_field = "django.db.models.BigAutoField"
