"""The city's mediator roster pages, mounted under ``mediators/`` (namespace "mediators")."""

from django.urls import URLPattern, URLResolver, path

from mediators import views

app_name = "mediators"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.MediatorListView.as_view(), name="list"),
    path("new/", views.MediatorEditView.as_view(), name="create"),
    path("<int:pk>/edit/", views.MediatorEditView.as_view(), name="edit"),
    path("<int:pk>/deactivate/", views.MediatorDeactivateView.as_view(), name="deactivate"),
]
