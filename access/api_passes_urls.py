"""API of the event log, pass search, visitor passes and remote opening (under ``c/<compound>/api/access/``).

A ``SimpleRouter``: no API root of its own (the access API's modules share one mount point),
and its own namespace, so its route names cannot clash with the other access modules'.
"""

from rest_framework.routers import SimpleRouter

from access import api_passes

router = SimpleRouter()
router.register("events", api_passes.AccessEventViewSet, basename="event")
router.register("passes", api_passes.VisitorPassViewSet, basename="visitor-pass")
router.register("remote-open", api_passes.RemoteOpenViewSet, basename="remote-open")

app_name = "access-passes-api"
urlpatterns = router.urls
