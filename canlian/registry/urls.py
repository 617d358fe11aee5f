from django.urls import path

from . import views

app_name = "registry"
urlpatterns = [
    path("persons/", views.person_list, name="person_list"),
    path("persons/<int:pk>/", views.person_detail, name="person_detail"),
    path("regions/", views.region_list, name="region_list"),
    path("import/", views.region_list, name="import_start"),
]
