"""Mediation pages of one compound, mounted under ``c/<compound>/mediation/`` (namespace "mediation").

Every URL names at most one record, as ``pk``: a case, or a session, party or attachment
whose case is the record the permission (and an assigned mediator's grant) is checked on.
"""

from django.urls import URLPattern, URLResolver, path

from mediation import views, views_case, views_files

app_name = "mediation"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.CaseListView.as_view(), name="case_list"),
    path("new/", views.CaseIntakeView.as_view(), name="case_new"),
    path("new/party/", views.PartyFieldsetView.as_view(), name="party_fieldset"),
    path("new/persons/", views.PersonSearchView.as_view(), name="person_search"),
    path("<int:pk>/", views.CaseDetailView.as_view(), name="case"),
    path("<int:pk>/edit/", views.CaseEditView.as_view(), name="case_edit"),
    path("<int:pk>/transition/", views_case.CaseTransitionView.as_view(), name="case_transition"),
    path("<int:pk>/deadline/", views_case.CaseExtendView.as_view(), name="case_extend"),
    path("<int:pk>/parties/", views_case.PartyAddView.as_view(), name="party_add"),
    path("<int:pk>/mediators/", views_case.MediatorAssignView.as_view(), name="case_mediators"),
    path("<int:pk>/mediators/remove/", views_case.MediatorUnassignView.as_view(), name="mediator_unassign"),
    path("<int:pk>/sessions/", views_case.SessionAddView.as_view(), name="session_add"),
    path("<int:pk>/agreements/", views_case.AgreementAddView.as_view(), name="agreement_add"),
    path("<int:pk>/attachments/", views_case.AttachmentAddView.as_view(), name="attachment_add"),
    path("parties/<int:pk>/remove/", views_case.PartyRemoveView.as_view(), name="party_remove"),
    path("sessions/<int:pk>/", views_case.SessionEditView.as_view(), name="session"),
    path("attachments/<int:pk>/remove/", views_case.AttachmentRemoveView.as_view(), name="attachment_remove"),
    path("attachments/<int:pk>/file/", views_files.AttachmentFileView.as_view(), name="attachment_file"),
    path("attachments/<int:pk>/thumbnail.jpg", views_files.AttachmentThumbnailView.as_view(), name="attachment_thumb"),
]
