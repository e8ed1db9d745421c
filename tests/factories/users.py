"""Users and role assignments (public schema)."""

import factory
from django.contrib.auth import get_user_model

from district.models import RoleAssignment


class UserFactory(factory.django.DjangoModelFactory):
    """A user with the password "pw-Test-2026"."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs) -> None:
        self.set_password(extracted or "pw-Test-2026")
        if create:
            self.save(update_fields=["password"])


class RoleFactory(factory.django.DjangoModelFactory):
    """A role assignment; pass ``area=`` or ``compound=``."""

    class Meta:
        model = RoleAssignment

    user = factory.SubFactory(UserFactory)
    role = "street_office"
