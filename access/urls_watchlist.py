"""The city watch-list's pages, mounted under ``watchlist/`` (namespace ``watchlist``)."""

from django.urls import path

from access import views_watchlist as views

app_name = "watchlist"

urlpatterns = [
    path("", views.WatchListView.as_view(), name="list"),
    path("new/", views.WatchEntryCreateView.as_view(), name="create"),
    path("<int:pk>/", views.WatchEntryView.as_view(), name="entry"),
    path("<int:pk>/edit/", views.WatchEntryEditView.as_view(), name="edit"),
    path("<int:pk>/end/", views.WatchEntryEndView.as_view(), name="end"),
    path("<int:pk>/photos/new/", views.WatchFaceAddView.as_view(), name="add_face"),
    # Photos by their own id: each belongs to one entry, whose city decides who may see it.
    path("photos/<int:pk>.jpg", views.WatchFacePhotoView.as_view(), name="face_photo"),
    path("photos/<int:pk>/remove/", views.WatchFaceRemoveView.as_view(), name="remove_face"),
]
