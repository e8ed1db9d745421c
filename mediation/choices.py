"""Choices of dispute-mediation cases (矛盾纠纷调解)."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class CaseSource(models.TextChoices):
    WALK_IN = "walk_in", _("Walk-in")
    REFERRAL_110 = "referral_110", _("110 referral")
    GRID_SCREENING = "grid_screening", _("Grid screening")
    HOTLINE = "hotline", _("Hotline")
    OTHER = "other", _("Other")


class CaseCategory(models.TextChoices):
    NEIGHBOUR = "neighbour", _("Neighbours")
    FAMILY = "family", _("Family and marriage")
    PROPERTY_MANAGEMENT = "property_management", _("Property management")
    RENTAL = "rental", _("Rental")
    LABOUR = "labour", _("Labour and wages")
    TRAFFIC = "traffic", _("Traffic accident")
    WORK_INJURY = "work_injury", _("Work injury or death")
    COMMERCIAL = "commercial", _("Commercial")
    CONSUMER = "consumer", _("Consumer")
    OTHER = "other", _("Other")


class Risk(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class RiskReason(models.TextChoices):
    """Why a dispute may escalate (风险研判); any of these makes the risk at least medium."""

    ABNORMAL_DEATH = "abnormal_death", _("Abnormal death")
    GROUP = "group", _("Group of 5 or more")
    VIOLENCE = "violence", _("Threat of violence")
    SELF_HARM = "self_harm", _("Threat of self-harm")
    PETITION = "petition", _("Threat of petitioning")
    REPEATED = "repeated", _("Repeated dispute")
    LARGE_AMOUNT = "large_amount", _("Large amount in dispute")


class CaseStatus(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    ACCEPTED = "accepted", _("Accepted")
    MEDIATING = "mediating", _("Mediating")
    AGREEMENT = "agreement", _("Agreement reached")
    FAILED = "failed", _("Mediation failed")
    FOLLOW_UP = "follow_up", _("Follow-up")
    CLOSED = "closed", pgettext_lazy("case status", "Closed")
    REFERRED = "referred", _("Referred")


class ReferredTo(models.TextChoices):
    COURT = "court", _("Court")
    LABOUR_ARBITRATION = "labour_arbitration", _("Labour arbitration")
    DEPARTMENT = "department", _("Another department")


class PartyRole(models.TextChoices):
    APPLICANT = "applicant", _("Applicant")
    RESPONDENT = "respondent", _("Respondent")
    OTHER = "other", _("Other party")


class AttachmentKind(models.TextChoices):
    PHOTO = "photo", _("Photo")
    PDF = "pdf", _("PDF document")
