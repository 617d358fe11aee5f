from django.urls import path

from . import views

app_name = "verification"
urlpatterns = [
    path("", views.index, name="index"),
    path("lists/", views.list_index, name="list_index"),
    path("lists/upload/", views.list_upload, name="list_upload"),
    path("lists/jobs/<uuid:pk>/", views.import_job, name="import_job"),
    path("lists/jobs/<uuid:pk>/map/", views.list_map, name="list_map"),
    path("lists/jobs/<uuid:pk>/confirm/", views.list_confirm, name="list_confirm"),
    path("lists/jobs/<uuid:pk>/cancel/", views.list_cancel, name="list_cancel"),
    path("lists/jobs/<uuid:pk>/report/", views.import_report, name="import_report"),
    path("lists/<int:pk>/", views.list_detail, name="list_detail"),
    path("candidates/", views.candidate_list, name="candidate_list"),
    path("candidates/<int:pk>/<str:decision>/", views.candidate_decide, name="candidate_decide"),
    path("findings/", views.finding_list, name="finding_list"),
    path("findings/bulk/", views.finding_bulk, name="finding_bulk"),
    path("findings/<int:pk>/", views.finding_detail, name="finding_detail"),
    path("findings/<int:pk>/confirm/", views.finding_confirm, name="finding_confirm"),
    path("findings/<int:pk>/dismiss/", views.finding_dismiss, name="finding_dismiss"),
    path("runs/", views.run_list, name="run_list"),
    path("runs/jobs/<uuid:pk>/", views.run_job, name="run_job"),
    path("report/", views.report_page, name="report"),
    path("report/export/", views.report_export, name="report_export"),
]
