"""Access staff API routes: devices, consents, faces, cards (see access/api_urls.py for the mount).

No API root here: the access API's routers share one prefix, and one root page answering for
all of them would name only its own.
"""

from access import api_staff
from district.api.base import Router

router = Router()
router.include_root_view = False
router.register("devices", api_staff.DeviceViewSet, basename="device")
router.register("consents", api_staff.ConsentViewSet, basename="consent")
router.register("faces", api_staff.FaceViewSet, basename="face")
router.register("cards", api_staff.CardViewSet, basename="card")

app_name = "access-staff-api"
urlpatterns = router.urls
