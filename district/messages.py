"""Messages of Django that this project's catalogue translates, because Django's own zh_Hans does not.

Never used at run time: the markers only make ``makemessages`` keep these entries in
``locale/zh_Hans/LC_MESSAGES/django.po`` (it drops every msgid it cannot find in our code).
"""

from django.utils.translation import ngettext_lazy

__all__ = ["FROM_DJANGO"]

FROM_DJANGO = (
    # django.contrib.auth.password_validation.MinimumLengthValidator (settings: 10 characters).
    ngettext_lazy(
        "This password is too short. It must contain at least %d character.",
        "This password is too short. It must contain at least %d characters.",
        10,
    ),
)
