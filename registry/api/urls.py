"""Registry API routes (mounted under ``c/<compound>/api/registry/``)."""

from district.api.base import Router
from registry.api import views

router = Router()
router.register("addresses", views.AddressViewSet)
router.register("persons", views.PersonViewSet)
router.register("houses", views.HouseViewSet)
router.register("leases", views.LeaseViewSet)
router.register("organisations", views.OrganisationViewSet)
router.register("vehicles", views.VehicleViewSet)

app_name = "registry-api"
urlpatterns = router.urls
