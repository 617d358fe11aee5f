from django.urls import path

from . import places_views as pv
from . import views

app_name = "institutions"

urlpatterns = [
    path("", views.institution_list, name="list"),
    path("new/", views.institution_create, name="create"),
    path("<int:pk>/", views.institution_detail, name="detail"),
    path("<int:pk>/move/", views.institution_move, name="move"),
    # the places that serve: 残疾人之家 and community rehab points
    path("places/", pv.place_list, name="places"),
    path("places/export/<str:kind>/", pv.export, name="place_export"),
    path("places/<int:pk>/", pv.place_detail, name="place_detail"),
    path("places/<int:pk>/services/", pv.place_service_add, name="place_service_add"),
    path("places/<int:pk>/members/", pv.place_member_add, name="place_member_add"),
    path("places/members/<int:pk>/leave/", pv.place_member_leave, name="place_member_leave"),
    path("places/<int:pk>/roll-call/", pv.roll_call, name="place_roll_call"),
    path("places/attendance/", pv.attendance_list, name="attendance"),
    path("places/projects/", pv.project_list, name="projects"),
    path("places/projects/new/", pv.project_new, name="project_new"),
    path("places/projects/<int:pk>/", pv.project_detail, name="project_detail"),
    path("places/projects/<int:pk>/complete/", pv.project_complete, name="project_complete"),
    path("places/projects/<int:pk>/evidence/", pv.project_evidence, name="project_evidence"),
    path("places/milestones/<int:pk>/done/", pv.milestone_done, name="project_milestone_done"),
    path("places/marks/<int:pk>/", pv.checklist_mark, name="project_checklist_mark"),
    path("places/evidence/<int:pk>/", pv.evidence_download, name="evidence_download"),
    path("places/ratings/", pv.rating_list, name="ratings"),
    path("places/ratings/new/", pv.rating_new, name="rating_new"),
    path("places/ratings/<int:pk>/", pv.rating_detail, name="rating_detail"),
    path("places/ratings/<int:pk>/move/", pv.rating_move, name="rating_move"),
    path("places/ratings/<int:pk>/rescore/", pv.rating_rescore, name="rating_rescore"),
    path("places/ratings/<int:pk>/evidence/", pv.rating_evidence, name="rating_evidence"),
]
