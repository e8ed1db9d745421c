"""Compound pages, mounted under ``c/<compound>/``."""

from django.urls import path

from registry import views, views_excel
from registry.permissions import RECORD_PERMISSIONS

# One form view serves both: the new-record form needs ``create``, the edit form ``partial_update``.
CREATE = RECORD_PERMISSIONS["create"]
CHANGE = RECORD_PERMISSIONS["partial_update"]

app_name = "registry"

urlpatterns = [
    path("", views.OverviewView.as_view(), name="overview"),
    path("addresses/", views.AddressTreeView.as_view(), name="addresses"),
    path("addresses/<int:pk>/", views.AddressDetailView.as_view(), name="address"),
    path("addresses/<int:pk>/plate.<str:fmt>", views.DoorPlateView.as_view(), name="plate"),
    path("addresses/<int:pk>/plates/", views.DoorPlatePrintView.as_view(), name="plates"),
    path("import/", views_excel.ImportView.as_view(), name="import"),
    path("import/<int:pk>/", views_excel.ImportStatusView.as_view(), name="import_status"),
    path("import/<int:pk>/errors.xlsx", views_excel.ImportErrorFileView.as_view(), name="import_errors"),
    path("<str:kind>/template.xlsx", views_excel.TemplateDownloadView.as_view(), name="template"),
    path("<str:kind>/export.xlsx", views_excel.ExportView.as_view(), name="export"),
    path("<str:kind>/", views.RecordListView.as_view(), name="list"),
    path("<str:kind>/new/", views.RecordFormView.as_view(permissions={"GET": CREATE, "POST": CREATE}), name="create"),
    path("<str:kind>/<int:pk>/", views.RecordDetailView.as_view(), name="record"),
    path(
        "<str:kind>/<int:pk>/edit/",
        views.RecordFormView.as_view(permissions={"GET": CHANGE, "POST": CHANGE}),
        name="edit",
    ),
    path("<str:kind>/<int:pk>/delete/", views.RecordDeleteView.as_view(), name="delete"),
]
