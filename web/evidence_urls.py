"""The evidence pages, under /evidence/ (namespace "evidence")."""

from django.urls import path

from . import evidence as views

app_name = "evidence"

urlpatterns = [
    path(
        "submissions/<int:submission_id>/keyframes/<int:index>.jpg",
        views.keyframe_thumbnail,
        name="thumbnail",
    ),
]
