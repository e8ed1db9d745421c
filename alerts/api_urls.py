"""Alert API routes, mounted under ``api/alerts/`` (namespace ``alerts-api``)."""

from rest_framework.routers import SimpleRouter

from alerts import api

# SimpleRouter: no API root view (it would claim the alert list's own URL) and no format twins.
router = SimpleRouter()
router.register("broadcasts", api.BroadcastViewSet, basename="broadcast")
router.register("", api.AlertViewSet, basename="alert")

app_name = "alerts-api"
urlpatterns = router.urls
