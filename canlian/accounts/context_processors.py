from canlian.common.navigation import menu_for

from . import access
from .models import Role

_MODULES = (("person", "persons"), ("import", "import"), ("region", "regions"), ("audit", "audit"))


def _module(url_name: str | None) -> str:
    """The navigation entry a page belongs to, to mark it as the current one."""
    for prefix, module in _MODULES:
        if (url_name or "").startswith(prefix):
            return module
    return ""


def navigation(request):
    """Which modules the navigation bar offers; every flag asks ``access``, as the pages themselves do."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    active = bool(user.is_active and user.role)
    match = getattr(request, "resolver_match", None)
    module = (
        match.namespace
        if match and match.namespace in ("benefits", "verification")
        else _module(match.url_name if match else "")
    )
    return {
        "nav_menu": menu_for(user, match),
        "nav": {
            "persons": active and user.role in access.PERSON_READERS,
            "import": access.can_import(user),
            "audit": access.can_read_audit(user),
            # Region names are not sensitive: every role but the auditor (audit log only) may read them.
            "regions": active and not access.can_read_audit(user),
            "users": access.can_manage_users(user),
            "benefits": active and user.role in access.BENEFIT_READERS,
            "benefits_queue": active and user.role in (Role.TOWN_STAFF, Role.DISTRICT_STAFF),
            "parameters": access.can_manage_parameters(user),
            "verification": access.can_read_verification(user),
            "module": module,
        },
    }
