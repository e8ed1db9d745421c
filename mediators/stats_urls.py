"""Mediation statistics of the user's scope, mounted under ``mediation-stats/`` (namespace "mediation-stats").

Public pages narrowed by scope: ``?area=<code>`` or ``?compound=<code>`` names the node shown.
"""

from django.urls import URLPattern, URLResolver, path

from mediators import stats

app_name = "mediation-stats"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", stats.StatsView.as_view(), name="index"),
    path("export.xlsx", stats.StatsExportView.as_view(), name="export"),
]
