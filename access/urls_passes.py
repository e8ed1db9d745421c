"""Pages of visitors and passages (mounted in the ``access`` namespace under ``c/<compound>/access/``)."""

from django.urls import path

from access import views_passes

urlpatterns = [
    path("passes/", views_passes.VisitorPassesView.as_view(), name="visitor_passes"),
    path("passes/<int:pk>/revoke/", views_passes.RevokePassView.as_view(), name="visitor_pass_revoke"),
    path("remote-open/", views_passes.RemoteOpenView.as_view(), name="remote_open"),
    path("events/", views_passes.EventLogView.as_view(), name="event_log"),
    path("events/<int:pk>/snapshot/", views_passes.EventSnapshotView.as_view(), name="event_snapshot"),
    path("search/", views_passes.PassSearchView.as_view(), name="pass_search"),
]
