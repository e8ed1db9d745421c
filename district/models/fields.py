"""Fields shared by the compound-schema apps."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

__all__ = ["user_reference"]


def user_reference(verbose_name: Any = None, **kwargs: Any) -> Any:
    """A reference from a compound-schema table to a user (public ``auth_user``), who may be deleted.

    Deleting a user runs in the public schema, where the compound tables do not exist: a normal
    foreign key would make Django's deletion collector query them there and fail. So the ORM
    does nothing on delete and the database enforces nothing; a deleted user's id stays as a
    dangling number (pages show "deleted user"), which is also what the audit trail wants.
    """
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=verbose_name,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        **kwargs,
    )
