from django.urls import path

from . import views

app_name = "workplan"

urlpatterns = [
    path("", views.board, name="board"),
    path("plans/", views.plan_list, name="plan_list"),
    path("plans/<int:pk>/", views.plan_detail, name="plan_detail"),
    path("plans/<int:pk>/publish/", views.plan_publish, name="plan_publish"),
    path("plans/<int:pk>/targets/add/", views.target_add, name="target_add"),
    path("plans/<int:pk>/targets/merge/", views.target_merge, name="target_merge"),
    path("plans/<int:pk>/targets/<int:target_pk>/", views.target_update, name="target_update"),
    path("plans/<int:pk>/targets/<int:target_pk>/delete/", views.target_delete, name="target_delete"),
    path("plans/<int:pk>/targets/<int:target_pk>/split/", views.target_split, name="target_split"),
    path("plans/<int:pk>/targets/<int:target_pk>/quotas/", views.target_quotas, name="target_quotas"),
    path(
        "plans/<int:pk>/targets/<int:target_pk>/milestone/", views.target_milestone, name="target_milestone"
    ),
]
