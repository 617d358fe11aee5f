from django.urls import path

from . import views, views_import

app_name = "registry"
urlpatterns = [
    # persons: views.py
    path("persons/", views.person_list, name="person_list"),
    path("persons/new/", views.person_create, name="person_create"),
    path("persons/<int:pk>/", views.person_detail, name="person_detail"),
    path("persons/<int:pk>/edit/", views.person_edit, name="person_edit"),
    path("persons/<int:pk>/reveal/", views.person_reveal, name="person_reveal"),
    path("persons/<int:pk>/status/", views.person_status, name="person_status"),
    path("persons/<int:pk>/circumstances/", views.person_circumstance_add, name="person_circumstance_add"),
    path(
        "persons/<int:pk>/circumstances/end/", views.person_circumstance_end, name="person_circumstance_end"
    ),
    path("persons/<int:pk>/employment/", views.person_employment, name="person_employment"),
    path("regions/", views.region_list, name="region_list"),
    path("regions/new/", views.region_create, name="region_create"),
    # import and export: views_import.py
    path("persons/export/", views_import.person_export, name="person_export"),
    path("import/", views_import.import_start, name="import_start"),
    path("import/template/", views_import.import_template, name="import_template"),
    path("import/<uuid:pk>/", views_import.import_detail, name="import_detail"),
    path("import/<uuid:pk>/commit/", views_import.import_commit, name="import_commit"),
    path("import/<uuid:pk>/report/", views_import.import_report, name="import_report"),
]
