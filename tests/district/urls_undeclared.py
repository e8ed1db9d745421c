"""A throwaway urlconf: the product's URLs, plus views someone forgot to declare.

For ``test_permission_declarations``: each view records that it ran in ``RAN``, so a test can
tell a refusal from the view's own answer.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import View
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from district.permissions import SIGNED_IN
from district.views import DeclaredView

RAN: list[str] = []


def undeclared_page(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    RAN.append(request.path)
    return HttpResponse("the undeclared view ran")


class UndeclaredView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return undeclared_page(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        return undeclared_page(request)


class HalfDeclaredView(DeclaredView):
    """Declares GET, forgets POST."""

    permissions = {"GET": SIGNED_IN}

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("declared GET")

    def post(self, request: HttpRequest) -> HttpResponse:
        return undeclared_page(request)


class UndeclaredViewSet(viewsets.ViewSet):
    """A DRF viewset without ``permissions``."""

    def list(self, request: Request, **kwargs: Any) -> Response:
        RAN.append(request.path)
        return Response({"ran": True})

    def create(self, request: Request, **kwargs: Any) -> Response:
        RAN.append(request.path)
        return Response({"ran": True}, status=201)


class HalfDeclaredViewSet(UndeclaredViewSet):
    """Declares ``list``, forgets ``create``."""

    permissions = {"list": SIGNED_IN}


ROUTES = {"get": "list", "post": "create"}

urlpatterns = [
    path("undeclared/function/", undeclared_page, name="undeclared-function"),
    path("undeclared/class/", UndeclaredView.as_view(), name="undeclared-class"),
    path("undeclared/half/", HalfDeclaredView.as_view(), name="undeclared-half"),
    path("api/undeclared/", UndeclaredViewSet.as_view(ROUTES), name="undeclared-api"),
    path("api/undeclared-half/", HalfDeclaredViewSet.as_view(ROUTES), name="undeclared-api-half"),
    path("c/<str:compound>/undeclared/", undeclared_page, name="undeclared-compound"),
    path("c/<str:compound>/api/undeclared/", UndeclaredViewSet.as_view(ROUTES), name="undeclared-compound-api"),
    path("", include("district.urls")),
]
