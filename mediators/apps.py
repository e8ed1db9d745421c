"""mediators app (public schema): the city-wide roster of mediators and the per-compound case
figures that street and city statistics read (never the compound schemas)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MediatorsConfig(AppConfig):
    name = "mediators"
    verbose_name = _("Mediator roster")
    default_auto_field = "django.db.models.BigAutoField"
