"""Every alert model explains itself in Chinese: its templates are in the catalogue.

They are passed through ``_fmt`` and marked with ``gettext_noop``; without the marker
``makemessages`` drops them and pages fall back to English (it happened once).
"""

from __future__ import annotations

import re
from collections import defaultdict

from django.utils import translation

from alerts.catalogue import MODELS, explain

CJK = re.compile(r"[\u4e00-\u9fff]")


class Anything(defaultdict):  # type: ignore[type-arg]
    """A detail where every key has a value, so every placeholder renders."""

    def __missing__(self, key: str) -> str:
        return "7"


def test_every_explanation_reads_in_chinese() -> None:
    with translation.override("zh-hans"):
        for code in MODELS:
            text = explain(code, Anything())
            assert CJK.search(text), f"{code}: {text}"
