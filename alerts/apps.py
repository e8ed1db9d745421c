"""alerts app (public schema): the alert models' settings per compound, the alert lifecycle,
joint-defence broadcasts and live push. Alert rows themselves are ``events.Alert``."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = _("Alerts")
    default_auto_field = "django.db.models.BigAutoField"
