from django.urls import path

from . import views, views_exports

app_name = "common"
urlpatterns = [
    path("audit/", views.audit_list, name="audit_list"),
    path("audit/export/", views.audit_export, name="audit_export"),
    path("jobs/<uuid:pk>/", views.job_detail, name="job_detail"),
    path("exports/", views_exports.export_list, name="export_list"),
    path("exports/<uuid:pk>/", views_exports.export_detail, name="export_detail"),
    path("exports/<uuid:pk>/download/", views_exports.export_download, name="export_download"),
]
