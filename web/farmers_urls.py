"""The farmer's pages, under /farm/ (namespace "farmers")."""

from django.urls import path

from . import farmers as views

app_name = "farmers"

urlpatterns = [
    path("", views.browse, name="browse"),
    path("factories/<int:factory_id>/", views.factory_preview, name="factory"),
    path("format/", views.demonstration_format, name="format"),
    path("factories/<int:factory_id>/claim/", views.claim_start, name="claim_start"),
    path("claims/<int:claim_id>/", views.claim_detail, name="claim"),
    path("submissions/<int:submission_id>/", views.submission_detail, name="submission"),
    path("submissions/<int:submission_id>/status/", views.submission_status, name="submission_status"),
    path("submissions/<int:submission_id>/appeal/", views.submission_appeal, name="submission_appeal"),
    path("work/", views.my_work, name="work"),
    path("earnings/", views.earnings, name="earnings"),
    path("earnings/withdrawals/", views.withdrawal_create, name="withdrawal_create"),
]
