from django.urls import path

from . import views

app_name = "casework"

urlpatterns = [
    path("", views.index, name="index"),
    path("p/<str:programme>/", views.case_list, name="case_list"),
    path("p/<str:programme>/due/", views.due_list, name="due_list"),
    path("cases/<int:pk>/", views.case_detail, name="case_detail"),
    path("cases/<int:pk>/move/", views.case_move, name="case_move"),
    path("cases/<int:pk>/attachments/", views.attachment_add, name="attachment_add"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("due/<int:pk>/done/", views.due_done, name="due_done"),
    path("settlements/", views.settlement_list, name="settlement_list"),
    path("import/", views.roster_upload, {"kind": "custodial_care"}, name="roster_upload_default"),
    path("import/<str:kind>/", views.roster_upload, name="roster_upload"),
    path("import/job/<uuid:pk>/", views.import_job, name="import_job"),
    path("import/job/<uuid:pk>/commit/", views.import_commit, name="import_commit"),
    path("import/job/<uuid:pk>/report/", views.import_report, name="import_report"),
]
