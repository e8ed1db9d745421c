"""WebSocket routes (mounted by district.asgi)."""

from django.urls import path

from alerts.consumers import LiveConsumer

websocket_urlpatterns = [path("ws/live/", LiveConsumer.as_asgi())]
