from django.urls import path

from . import child_rehab_views as child_rehab
from . import custodial_views as custodial
from . import devices_views as devices
from . import employment_views as employment
from . import renovation_views as renovation
from . import views
from .community import views as community

app_name = "casework"

urlpatterns = [
    path("", views.index, name="index"),
    path("worklist/", views.my_worklist, name="worklist"),
    path("worklist/count/", views.my_worklist_count, name="worklist_count"),
    path("p/<str:programme>/", views.case_list, name="case_list"),
    path("p/<str:programme>/due/", views.due_list, name="due_list"),
    path("cases/<int:pk>/", views.case_detail, name="case_detail"),
    path("cases/<int:pk>/move/", views.case_move, name="case_move"),
    path("cases/<int:pk>/attachments/", views.attachment_add, name="attachment_add"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("due/<int:pk>/done/", views.due_done, name="due_done"),
    path("settlements/", views.settlement_list, name="settlement_list"),
    path("settlements/<int:pk>/move/", views.settlement_move, name="settlement_move"),
    path("import/", views.roster_upload, {"kind": "custodial_care"}, name="roster_upload_default"),
    path("import/<str:kind>/", views.roster_upload, name="roster_upload"),
    path("import/job/<uuid:pk>/", views.import_job, name="import_job"),
    path("import/job/<uuid:pk>/commit/", views.import_commit, name="import_commit"),
    path("import/job/<uuid:pk>/report/", views.import_report, name="import_report"),
    # custodial care's own pages
    path("custodial/apply/", custodial.apply, name="custodial_apply"),
    path("custodial/contracts/", custodial.contracts, name="custodial_contracts"),
    path("custodial/contracts/new/", custodial.contract_new, name="custodial_contract_new"),
    path("custodial/contracts/<int:pk>/end/", custodial.contract_end, name="custodial_contract_end"),
    path("custodial/inspections/", custodial.inspections, name="custodial_inspections"),
    path(
        "custodial/inspections/<int:pk>/follow-up/",
        custodial.inspection_follow_up,
        name="custodial_inspection_follow_up",
    ),
    # child rehabilitation's own pages
    path("child-rehab/apply/", child_rehab.apply, name="child_rehab_apply"),
    path("child-rehab/cases/<int:pk>/month/", child_rehab.month_record, name="child_rehab_month"),
    path("child-rehab/cases/<int:pk>/referral/", child_rehab.referral_request, name="child_rehab_referral"),
    path("child-rehab/referrals/<int:pk>/move/", child_rehab.referral_move, name="child_rehab_referral_move"),
    path(
        "child-rehab/referrals/<int:pk>/reimburse/",
        child_rehab.referral_reimburse,
        name="child_rehab_reimburse",
    ),
    path("child-rehab/settlements/", child_rehab.settlement_create, name="child_rehab_settlement"),
    path("child-rehab/autism/", child_rehab.autism, name="child_rehab_autism"),
    path("child-rehab/evaluations/", child_rehab.evaluations, name="child_rehab_evaluations"),
    # assistive devices' own pages
    path("devices/apply/", devices.apply, name="devices_apply"),
    path("devices/catalogue/", devices.catalogue, name="devices_catalogue"),
    path("devices/loans/", devices.loans, name="devices_loans"),
    path("devices/loans/<int:pk>/return/", devices.loan_return, name="devices_loan_return"),
    # home accessibility renovation's own pages
    path("renovation/apply/", renovation.apply, name="renovation_apply"),
    path("renovation/cases/<int:pk>/items/", renovation.item_add, name="renovation_item_add"),
    path("renovation/items/<int:pk>/remove/", renovation.item_remove, name="renovation_item_remove"),
    path("renovation/cases/<int:pk>/photos/", renovation.photo_add, name="renovation_photo_add"),
    # employment's own pages
    path("employment/", employment.employment_list, name="employment_index"),
    path("employment/list/<str:what>/", employment.employment_list, name="employment_list"),
    path("employment/list/<str:what>/export/", employment.employment_export, name="employment_export"),
    path("employment/new/", employment.employment_new, name="employment_new"),
    path("employment/job-fairs/new/", employment.job_fair_new, name="job_fair_new"),
    path("employment/training/new/", employment.training_new, name="training_new"),
    path("employment/training/<int:pk>/", employment.training_detail, name="training_detail"),
    path("employment/training/<int:pk>/enrol/", employment.training_enrol, name="training_enrol"),
    path("employment/training/<int:pk>/session/", employment.training_session, name="training_session"),
    path(
        "employment/training/<int:pk>/certify/<int:enrolment>/",
        employment.training_certify,
        name="training_certify",
    ),
    path("employment/projects/new/", employment.aux_project_new, name="aux_project_new"),
    path("employment/projects/<int:pk>/", employment.aux_project_detail, name="aux_project_detail"),
    path("employment/practitioners/new/", employment.practitioner_new, name="practitioner_new"),
    path("employment/job-support/new/", employment.job_support_list, name="job_support_list"),
    path("employment/graduates/new/", employment.graduate_register, name="graduate_register"),
    # community services (issue 11 §3)
    path("community/", community.index, name="community_index"),
    path("community/photos/<int:pk>/", community.photo_download, name="community_photo"),
    path("community/visit/<int:pk>/project/", community.visit_project, name="community_visit_project"),
    path("community/plan/<int:pk>/session/", community.plan_session, name="community_plan_session"),
    path("community/activity/<int:pk>/attend/", community.activity_attend, name="community_activity_attend"),
    path("community/activity/<int:pk>/photo/", community.activity_photo, name="community_activity_photo"),
    path("community/team/<int:pk>/member/", community.team_member, name="community_team_member"),
    path("community/<str:kind>/", community.record_list, name="community_list"),
    path("community/<str:kind>/export/", community.record_export, name="community_export"),
    path("community/<str:kind>/<int:pk>/", community.record_detail, name="community_detail"),
    path("community/<str:kind>/<int:pk>/move/", community.record_move, name="community_move"),
]
