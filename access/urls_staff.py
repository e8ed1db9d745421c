"""Access staff pages: devices, and a person's consent, faces and cards (see access/urls.py for the mount)."""

from django.urls import URLPattern, URLResolver, path

from access import views_staff as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("devices/", views.DeviceListView.as_view(), name="devices"),
    path("devices/state/", views.DeviceStateView.as_view(), name="device_state"),
    path("devices/new/", views.DeviceCreateView.as_view(), name="device_create"),
    path("devices/<int:pk>/", views.DeviceDetailView.as_view(), name="device"),
    path("devices/<int:pk>/edit/", views.DeviceEditView.as_view(), name="device_edit"),
    path("devices/<int:pk>/status/", views.DeviceStatusView.as_view(), name="device_status"),
    path("devices/<int:pk>/revoke/", views.DeviceRevokeView.as_view(), name="device_revoke"),
    path("devices/<int:pk>/rotate/", views.DeviceRotateView.as_view(), name="device_rotate"),
    path("persons/<int:pk>/", views.PersonAccessView.as_view(), name="person"),
    path("persons/<int:pk>/consent/", views.ConsentRecordView.as_view(), name="consent_record"),
    path("persons/<int:pk>/consent/withdraw/", views.ConsentWithdrawView.as_view(), name="consent_withdraw"),
    path("persons/<int:pk>/faces/", views.FaceEnrolView.as_view(), name="face_enrol"),
    path("persons/<int:pk>/cards/", views.CardAddView.as_view(), name="card_add"),
    path("consents/<int:pk>/document/", views.ConsentDocumentView.as_view(), name="consent_document"),
    path("faces/<int:pk>/photo.jpg", views.FacePhotoView.as_view(), name="face_photo"),
    path("faces/<int:pk>/remove/", views.FaceRemoveView.as_view(), name="face_remove"),
    path("cards/<int:pk>/remove/", views.CardRemoveView.as_view(), name="card_remove"),
]
