"""events app (public schema): the city-wide facts that must never be queried across compound
schemas — access events (partitioned by month), alerts, the device index and the watch-list."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = _("Events and watch-list")
    default_auto_field = "django.db.models.BigAutoField"
