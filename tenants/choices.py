"""Choices of compounds."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PlanTier(models.TextChoices):
    """Service plan of a compound."""

    BASIC = "basic", _("Basic (普通版)")
    ENHANCED = "enhanced", _("Enhanced (加强版)")
