from . import access


def navigation(request):
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    return {
        "nav": {
            "persons": access.persons_visible(user).model is not None and user.role in access.PERSON_READERS,
            "import": access.can_import(user),
            "audit": access.can_read_audit(user),
            "regions": access.can_manage_regions(user),
            "users": access.can_manage_users(user),
        }
    }
