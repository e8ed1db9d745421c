"""Registry API routes (mounted under ``c/<compound>/api/registry/``)."""

from rest_framework.routers import DefaultRouter

from registry.api import views

router = DefaultRouter()
router.register("addresses", views.AddressViewSet)
router.register("persons", views.PersonViewSet)
router.register("houses", views.HouseViewSet)
router.register("leases", views.LeaseViewSet)
router.register("organisations", views.OrganisationViewSet)
router.register("vehicles", views.VehicleViewSet)

app_name = "registry-api"
urlpatterns = router.urls
