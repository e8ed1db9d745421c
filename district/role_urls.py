"""Role assignment pages and API."""

from django.urls import path

from district import views_roles

urlpatterns = [
    path("roles/", views_roles.RoleListView.as_view(), name="role-list"),
]
