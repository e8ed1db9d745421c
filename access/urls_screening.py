"""Batch ID screening pages (see access/urls.py for where they are mounted; namespace ``access``)."""

from django.urls import path

from access import views_screening

urlpatterns = [
    path("screening/", views_screening.ScreeningView.as_view(), name="screening"),
    path("screening/<int:pk>/", views_screening.ScreeningStatusView.as_view(), name="screening_status"),
]
