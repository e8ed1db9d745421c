"""The alert pages, mounted under ``alerts/`` (namespace ``alerts``)."""

from django.urls import path

from alerts import views, views_broadcasts, views_settings

app_name = "alerts"

urlpatterns = [
    path("", views.AlertPanelView.as_view(), name="panel"),
    path("mine/", views.DispatchedToMeView.as_view(), name="mine"),
    path("rows/<int:pk>/", views.AlertRowView.as_view(), name="row"),
    path("<int:pk>/", views.AlertDetailView.as_view(), name="alert"),
    path("<int:pk>/acknowledge/", views.AcknowledgeView.as_view(), name="acknowledge"),
    path("<int:pk>/dispatch/", views.DispatchView.as_view(), name="dispatch"),
    path("<int:pk>/resolve/", views.ResolveView.as_view(), name="resolve"),
    path("<int:pk>/false-alarm/", views.FalseAlarmView.as_view(), name="false_alarm"),
    path("<int:pk>/snapshot.jpg", views.AlertSnapshotView.as_view(), name="snapshot"),
    path("settings/", views_settings.AlertSettingsIndexView.as_view(), name="settings_index"),
    path("settings/<int:pk>/", views_settings.AlertSettingsView.as_view(), name="settings"),
    path("broadcasts/", views_broadcasts.BroadcastListView.as_view(), name="broadcasts"),
    path("broadcasts/new/", views_broadcasts.BroadcastCreateView.as_view(), name="broadcast_create"),
    path("broadcasts/<int:pk>/", views_broadcasts.BroadcastView.as_view(), name="broadcast"),
    path("broadcasts/<int:pk>/photo.jpg", views_broadcasts.BroadcastPhotoView.as_view(), name="broadcast_photo"),
]
