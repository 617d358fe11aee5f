"""Login success and failure go to the audit log (auth signals are the only hook Django offers)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from canlian.common.audit import audit_record
from canlian.common.models import AuditLog


@receiver(user_logged_in)
def _on_login(sender, request, user, **kwargs):
    audit_record(acting_user=user, action="login", obj=user)


@receiver(user_logged_out)
def _on_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_record(acting_user=user, action="logout", obj=user)


@receiver(user_login_failed)
def _on_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        acting_user=None,
        username=username,
        action="login",
        object_type="accounts.user",
        object_repr=username,
        result=AuditLog.Result.FAILURE,
    )
