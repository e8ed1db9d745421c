"""URLs: public pages at ``/``, compound pages and API under ``/c/<compound>/``."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from district import views
from district.api import views as api_views
from district.api.base import Router
from district.permissions import PUBLIC, declare
from mediators import offline
from safety.views import HomeView

router = Router()
router.register("areas", api_views.AreaViewSet)
router.register("compounds", api_views.CompoundViewSet)

urlpatterns = [
    # Area users land on their safety dashboard (issue #12); the compound cards stay one click away.
    path("", HomeView.as_view(), name="home"),
    path("compounds/", views.home, name="compounds"),
    path(
        "login/",
        declare(GET=PUBLIC, POST=PUBLIC)(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path("logout/", declare(POST=PUBLIC)(auth_views.LogoutView.as_view()), name="logout"),
    path("i18n/setlang/", declare(GET=PUBLIC, POST=PUBLIC)(set_language), name="set_language"),
    path("healthz", api_views.healthz, name="healthz"),
    path("api/schema/", declare(GET=PUBLIC)(SpectacularAPIView.as_view()), name="schema"),
    path(
        "api/docs/",
        declare(GET=PUBLIC)(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
    path("", include("district.audit_urls")),
    path("", include("district.role_urls")),
    path("api/device/v1/", include("access.device_urls")),
    path("api/watchlist/", include("access.api_watchlist_urls")),
    path("watchlist/", include("access.urls_watchlist")),
    path("api/alerts/", include("alerts.api_urls")),
    path("alerts/", include("alerts.urls")),
    path("safety/", include("safety.urls")),
    path("api/safety/", include("safety.api_urls")),
    # The officer's installable app (issue #11): at the root, so the worker's scope covers every page.
    path("sw.js", offline.service_worker, name="service-worker"),
    path("manifest.webmanifest", offline.manifest, name="web-manifest"),
    path("mediators/", include("mediators.urls")),
    path("mediation-stats/", include("mediators.stats_urls")),
    path("api/mediators/", include("mediators.api_urls")),
    path("api/", include(router.urls)),
    path("c/<str:compound>/api/registry/", include("registry.api.urls")),
    path("c/<str:compound>/api/access/", include("access.api_urls")),
    # Before the registry's: its ``<kind>/`` pattern would take ``access/``.
    path("c/<str:compound>/access/", include("access.urls")),
    path("c/<str:compound>/mediation/", include("mediation.urls")),
    path("c/<str:compound>/api/mediation/", include("mediation.api_urls")),
    path("c/<str:compound>/", include("registry.urls")),
]

# A URL no route takes answers in JSON under /api/, like every other API error.
handler404 = "district.api.errors.page_not_found"
