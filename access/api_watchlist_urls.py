"""The watch-list API, mounted under ``api/watchlist/`` (namespace ``watchlist-api``)."""

from rest_framework.routers import SimpleRouter

from access.api_watchlist import WatchEntryViewSet

# SimpleRouter: no API root view of its own (the project's API index is /api/).
router = SimpleRouter()
router.register("entries", WatchEntryViewSet, basename="entry")

app_name = "watchlist-api"
urlpatterns = router.urls
