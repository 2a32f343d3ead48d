from django.urls import path

from . import views

app_name = "pools"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("factories/new/", views.factory_create_page, name="factory-create"),
    path("factories/<int:pk>/", views.factory_detail, name="factory-detail"),
    path("factories/<int:pk>/submissions/", views.factory_submissions, name="factory-submissions"),
    path("factories/<int:pk>/edit/", views.factory_edit, name="factory-edit"),
    path("factories/<int:pk>/fund/", views.factory_fund, name="factory-fund"),
    path("factories/<int:pk>/rate/", views.factory_rate, name="factory-rate"),
    path("factories/<int:pk>/pause/", views.factory_pause_action, name="factory-pause"),
    path("factories/<int:pk>/resume/", views.factory_resume_action, name="factory-resume"),
    path("factories/<int:pk>/close/", views.factory_close_page, name="factory-close"),
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
