"""The creator's dataset pages, served in the "pools" namespace (web/creator_urls.py), under
the names they had when they lived in pools."""

from django.urls import path

from . import views

urlpatterns = [
    path("factories/<int:pk>/dataset/", views.factory_dataset, name="factory-dataset"),
    path("factories/<int:pk>/dataset/<int:submission_id>/", views.factory_demonstration, name="factory-demonstration"),
    path(
        "factories/<int:pk>/dataset/<int:submission_id>/attachments/<int:attachment_id>/",
        views.factory_attachment_download,
        name="factory-attachment",
    ),
    path("factories/<int:pk>/exports/", views.factory_export_start, name="factory-export-start"),
    path("factories/<int:pk>/exports/<int:export_id>/", views.factory_export_status, name="factory-export"),
    path(
        "factories/<int:pk>/exports/<int:export_id>/download/",
        views.factory_export_download,
        name="factory-export-download",
    ),
    path("alerts/read/", views.alert_dismiss, name="alerts-read"),
    path("alerts/<int:alert_id>/read/", views.alert_dismiss, name="alert-read"),
]
