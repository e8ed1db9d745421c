"""Mediation API routes, mounted under ``c/<compound>/api/mediation/`` (namespace "mediation-api")."""

from district.api.base import Router
from mediation import api

router = Router()
router.register("cases", api.CaseViewSet, basename="case")
router.register("parties", api.PartyViewSet, basename="party")
router.register("sessions", api.SessionViewSet, basename="session")
router.register("agreements", api.AgreementViewSet, basename="agreement")
router.register("attachments", api.AttachmentViewSet, basename="attachment")

app_name = "mediation-api"
urlpatterns = router.urls
