"""safety app (public schema): incidents (警情) of the city's 110 dispatch, the 平安指数 safety
index with its daily snapshots and roll-ups, and the reports built on them."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SafetyConfig(AppConfig):
    name = "safety"
    verbose_name = _("Safety index")
    default_auto_field = "django.db.models.BigAutoField"
