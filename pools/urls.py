"""The creator's factory pages. Served, with the dataset pages (datasets.urls) and the
dashboard (web.creator), in the "pools" namespace by web/creator_urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("factories/new/", views.factory_create_page, name="factory-create"),
    path("factories/<int:pk>/", views.factory_detail, name="factory-detail"),
    path("factories/<int:pk>/submissions/", views.factory_submissions, name="factory-submissions"),
    path("factories/<int:pk>/edit/", views.factory_edit, name="factory-edit"),
    path("factories/<int:pk>/fund/", views.factory_fund, name="factory-fund"),
    path("factories/<int:pk>/rate/", views.factory_rate, name="factory-rate"),
    path("factories/<int:pk>/pause/", views.factory_pause_action, name="factory-pause"),
    path("factories/<int:pk>/resume/", views.factory_resume_action, name="factory-resume"),
    path("factories/<int:pk>/close/", views.factory_close_page, name="factory-close"),
    path("factories/<int:pk>/tasks/", views.factory_tasks, name="factory-tasks"),
    path(
        "factories/<int:pk>/tasks/<int:task_id>/remove/", views.factory_task_remove_action, name="factory-task-remove"
    ),
    path("farmers/", views.farmer_lists, name="farmer-lists"),
    path(
        "factories/<int:pk>/dataset/<int:submission_id>/flag/",
        views.demonstration_flag,
        name="factory-demonstration-flag",
    ),
    path(
        "factories/<int:pk>/dataset/<int:submission_id>/bonus/",
        views.demonstration_bonus,
        name="factory-demonstration-bonus",
    ),
    path("farmers/<int:entry_id>/remove/", views.farmer_list_remove_action, name="farmer-list-remove"),
]
