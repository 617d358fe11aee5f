from django.urls import path

from .views import applications, parameters, payroll, persons, programmes, queue, screening

app_name = "benefits"
urlpatterns = [
    path("", programmes.index, name="index"),
    # programmes: views/programmes.py
    path("programmes/", programmes.programme_list, name="programme_list"),
    path("programmes/<slug:code>/", programmes.programme_detail, name="programme_detail"),
    # applications and the review queue: views/applications.py
    path("applications/", applications.application_list, name="application_list"),
    path("applications/new/", applications.application_create, name="application_create"),
    path("applications/<int:pk>/", applications.application_detail, name="application_detail"),
    path("applications/<int:pk>/move/", applications.application_move, name="application_move"),
    path("applications/<int:pk>/attach/", applications.application_attach, name="application_attach"),
    path(
        "applications/<int:pk>/attachments/<int:att>/",
        applications.attachment_download,
        name="attachment_download",
    ),
    path("queue/", queue.review_queue, name="review_queue"),
    # a person's benefits and enrolment changes: views/persons.py
    path("persons/<int:pk>/", persons.person_benefits, name="person_benefits"),
    path("enrolments/<int:pk>/change/", persons.enrolment_change, name="enrolment_change"),
    # payroll: views/payroll.py
    path("payrolls/", payroll.payroll_list, name="payroll_list"),
    path("payrolls/generate/", payroll.payroll_generate, name="payroll_generate"),
    path("payrolls/jobs/<uuid:pk>/", payroll.payroll_job, name="payroll_job"),
    path("payrolls/<int:pk>/", payroll.payroll_detail, name="payroll_detail"),
    path("payrolls/<int:pk>/lines/", payroll.payroll_lines, name="payroll_lines"),
    path("payrolls/<int:pk>/move/", payroll.payroll_move, name="payroll_move"),
    path("payrolls/<int:pk>/discard/", payroll.payroll_discard, name="payroll_discard"),
    path("payrolls/<int:pk>/bank-file/", payroll.payroll_bank_download, name="payroll_bank_file"),
    path("payrolls/<int:pk>/results/", payroll.payroll_results, name="payroll_results"),
    # screening lists: views/screening.py
    path("screening/", screening.screening_page, name="screening"),
    path("screening/export/", screening.screening_export, name="screening_export"),
    # parameters: views/parameters.py
    path("parameters/", parameters.parameter_list, name="parameter_list"),
    path("parameters/add/", parameters.parameter_add, name="parameter_add"),
]
