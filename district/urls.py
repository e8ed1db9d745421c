"""URLs: public pages at ``/``, compound pages and API under ``/c/<compound>/``."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from district import views
from district.api import views as api_views

router = DefaultRouter()
router.register("areas", api_views.AreaViewSet)
router.register("compounds", api_views.CompoundViewSet)

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("healthz", login_not_required(api_views.healthz), name="healthz"),
    path("api/schema/", login_not_required(SpectacularAPIView.as_view()), name="schema"),
    path("api/docs/", login_not_required(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("", include("district.audit_urls")),
    path("", include("district.role_urls")),
    path("api/", include(router.urls)),
    path("c/<str:compound>/api/registry/", include("registry.api.urls")),
    path("c/<str:compound>/", include("registry.urls")),
]
