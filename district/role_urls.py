"""Role assignment pages and API.

The API routes are spelled out here rather than registered on ``district.urls``' router, so
roles keep to their own module; this module is included before ``api/``, and its two paths
do not overlap the router's.
"""

from django.urls import path

from district import views_roles
from district.api.roles import RoleAssignmentViewSet

role_assignment_list = RoleAssignmentViewSet.as_view({"get": "list", "post": "create"})
role_assignment_detail = RoleAssignmentViewSet.as_view({"get": "retrieve", "delete": "destroy"})

urlpatterns = [
    path("roles/", views_roles.RoleListView.as_view(), name="role-list"),
    path("roles/<int:pk>/revoke/", views_roles.RoleRevokeView.as_view(), name="role-revoke"),
    path("api/role-assignments/", role_assignment_list, name="roleassignment-list"),
    path("api/role-assignments/<int:pk>/", role_assignment_detail, name="roleassignment-detail"),
]
