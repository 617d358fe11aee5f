"""The only place that scopes what a user may see and change.

Every list, detail, export, API and report gets its queryset from here. Out-of-scope records are simply
not in the queryset, so views answer 404 for them.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from .models import Role, User

PERSON_READERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.LEADER}
PERSON_WRITERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF}
DISTRICT_WIDE = {Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF, Role.LEADER, Role.AUDITOR}


def _active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role)


def town_scope(user: User):
    """The town a user is confined to, or None for district-wide roles."""
    return user.jurisdiction if user.role == Role.TOWN_STAFF else None


def _town_scoped(qs: QuerySet, user: User, *, readers: set, town: str) -> QuerySet:
    """``qs`` for an active user whose role is in ``readers``, narrowed for town staff to the rows whose
    ``town`` lookup (e.g. ``person__town_id``) is their own town; nothing for anyone else."""
    if not _active(user) or user.role not in readers:
        return qs.none()
    if user.role == Role.TOWN_STAFF:
        return qs.filter(**{town: user.jurisdiction_id})
    return qs


def institution_scope(user: User):
    """The institution (id) an institution-staff user is confined to; None for every other role."""
    return user.institution_id if user.role == Role.INSTITUTION_STAFF else None


def scoped(qs: QuerySet, user: User, *, readers: set, town: str, institution: str | None = None) -> QuerySet:
    """The scoping primitive for rows served in a town and (optionally) by an institution: ``qs`` for an
    active user whose role is in ``readers``; town staff see the rows whose ``town`` lookup is their town;
    institution staff see only the rows whose ``institution`` lookup is their own institution (nothing when
    the rows have no institution or the user belongs to none)."""
    if not _active(user) or user.role not in readers:
        return qs.none()
    if user.role == Role.INSTITUTION_STAFF:
        if institution is None or user.institution_id is None:
            return qs.none()
        return qs.filter(**{institution: user.institution_id})
    if user.role == Role.TOWN_STAFF:
        return qs.filter(**{town: user.jurisdiction_id})
    return qs


# ---- persons -------------------------------------------------------------------------------------------


def persons_visible(user: User) -> QuerySet:
    from canlian.registry.models import Person

    return _town_scoped(Person.objects.all(), user, readers=PERSON_READERS, town="town_id")


def persons_editable(user: User) -> QuerySet:
    from canlian.registry.models import Person

    if not _active(user) or user.role not in PERSON_WRITERS:
        return Person.objects.none()
    return persons_visible(user)


def person_get(user: User, pk, *, for_edit: bool = False):
    qs = persons_editable(user) if for_edit else persons_visible(user)
    try:
        return qs.select_related("town", "community").get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise Http404("未找到该残疾人，或您无权查看。") from None


def can_create_person(user: User, town) -> bool:
    if not _active(user) or user.role not in PERSON_WRITERS:
        return False
    return user.role != Role.TOWN_STAFF or (town is not None and town.pk == user.jurisdiction_id)


def can_edit_person(user: User, person) -> bool:
    return persons_editable(user).filter(pk=person.pk).exists()


def can_reveal(user: User, person) -> bool:
    """Showing a full ID number: business staff within their scope, never leaders or auditors."""
    return (
        _active(user) and user.role in PERSON_WRITERS and persons_visible(user).filter(pk=person.pk).exists()
    )


def can_import(user: User) -> bool:
    return _active(user) and user.role in PERSON_WRITERS


def can_export(user: User) -> bool:
    return _active(user) and user.role in PERSON_READERS


def export_unmasked_allowed(user: User) -> bool:
    return _active(user) and user.role == Role.DISTRICT_STAFF


# ---- regions -------------------------------------------------------------------------------------------


def towns_visible(user: User) -> QuerySet:
    from canlian.registry.models import Region

    qs = Region.objects.filter(level=Region.Level.TOWN)
    if not _active(user):
        return qs.none()
    if user.role == Role.TOWN_STAFF:
        return qs.filter(pk=user.jurisdiction_id)
    return qs


def communities_visible(user: User) -> QuerySet:
    from canlian.registry.models import Region

    return Region.objects.filter(level=Region.Level.COMMUNITY, parent__in=towns_visible(user))


def can_manage_regions(user: User) -> bool:
    return _active(user) and user.role in {Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF}


def can_manage_users(user: User) -> bool:
    return _active(user) and user.role == Role.DISTRICT_ADMIN


# ---- audit and jobs ------------------------------------------------------------------------------------


def can_read_audit(user: User) -> bool:
    return _active(user) and user.role == Role.AUDITOR


def audit_logs_visible(user: User) -> QuerySet:
    from canlian.common.models import AuditLog

    if not can_read_audit(user):
        return AuditLog.objects.none()
    return AuditLog.objects.all()


def person_audit_visible(user: User, person) -> QuerySet:
    """The audit timeline on a person page: readable by whoever may read the person."""
    from canlian.common.models import AuditLog

    if not persons_visible(user).filter(pk=person.pk).exists():
        return AuditLog.objects.none()
    return AuditLog.objects.filter(object_type="registry.person", object_id=str(person.pk))


def jobs_visible(user: User) -> QuerySet:
    from canlian.common.models import Job

    if not _active(user):
        return Job.objects.none()
    return Job.objects.filter(created_by=user)


# ---- benefits ------------------------------------------------------------------------------------------

BENEFIT_READERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.LEADER}


def can_manage_parameters(user: User) -> bool:
    return _active(user) and user.role in {Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF}


def applications_visible(user: User) -> QuerySet:
    from canlian.benefits.models import Application

    return _town_scoped(Application.objects.all(), user, readers=BENEFIT_READERS, town="person__town_id")


def enrolments_visible(user: User) -> QuerySet:
    from canlian.benefits.models import Enrolment

    return _town_scoped(Enrolment.objects.all(), user, readers=BENEFIT_READERS, town="person__town_id")


def payrolls_visible(user: User) -> QuerySet:
    """Payrolls are district-wide; town staff see them but only their town's lines (payroll_lines_visible)."""
    from canlian.benefits.models import Payroll

    if not _active(user) or user.role not in BENEFIT_READERS:
        return Payroll.objects.none()
    return Payroll.objects.all()


def payroll_lines_visible(user: User) -> QuerySet:
    from canlian.benefits.models import PayrollLine

    return _town_scoped(PayrollLine.objects.all(), user, readers=BENEFIT_READERS, town="town_id")


def can_run_payroll(user: User) -> bool:
    return _active(user) and user.role == Role.DISTRICT_STAFF


def bank_accounts_unmasked_allowed(user: User) -> bool:
    return _active(user) and user.role == Role.DISTRICT_STAFF


# ---- verification (数据比对) ---------------------------------------------------------------------------

VERIFICATION_READERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.LEADER}


def can_run_verification(user: User) -> bool:
    """Importing outside lists and running comparisons: district staff."""
    return _active(user) and user.role == Role.DISTRICT_STAFF


def can_read_verification(user: User) -> bool:
    return _active(user) and user.role in VERIFICATION_READERS


def findings_visible(user: User) -> QuerySet:
    """Town staff: their own town's findings; district staff and leaders (read-only): all; others: none."""
    from canlian.verification.models import Finding

    return _town_scoped(Finding.objects.all(), user, readers=VERIFICATION_READERS, town="town_id")


def findings_handleable(user: User) -> QuerySet:
    """Confirm or dismiss: town staff for their town, district staff for all; leaders never."""
    from canlian.verification.models import Finding

    if not _active(user) or user.role not in PERSON_WRITERS:
        return Finding.objects.none()
    return findings_visible(user)


def outside_lists_visible(user: User) -> QuerySet:
    """The lists themselves (source, date, counts) are visible to every reader; their rows are not."""
    from canlian.verification.models import OutsideList

    if not can_read_verification(user):
        return OutsideList.objects.none()
    return OutsideList.objects.all()


def outside_rows_visible(user: User) -> QuerySet:
    """District staff and leaders: every row; town staff: rows matched (or proposed) to a person of their town."""
    from canlian.verification.models import OutsideRow

    if not can_read_verification(user):
        return OutsideRow.objects.none()
    qs = OutsideRow.objects.all()
    if user.role == Role.TOWN_STAFF:
        qs = qs.filter(matches__person__town_id=user.jurisdiction_id).distinct()
    return qs


def matches_visible(user: User) -> QuerySet:
    from canlian.verification.models import Match

    return _town_scoped(Match.objects.all(), user, readers=VERIFICATION_READERS, town="person__town_id")


def matches_decidable(user: User) -> QuerySet:
    """Confirm or reject a candidate match: town staff for persons of their town, district staff for all."""
    from canlian.verification.models import Match

    if not _active(user) or user.role not in PERSON_WRITERS:
        return Match.objects.none()
    return matches_visible(user)
