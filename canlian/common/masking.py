"""Masking of sensitive values for display, logs and exports.

An ID number is ``RRRRRR YYYYMMDD SSS C``: the region of birth registration, the birth date, a sequence
(its last digit odd for men) and a check character. A masked view shows beside it the town (which says the
region for most people), the sex and the age, never the birth date. The mask shows only what those columns
already say or what no rebuild can use: the 6 region digits and the last 2 characters (the sex digit and
the check character), hiding the birth date and the first two digits of the sequence. Anyone trying to
rebuild the number from a masked row is left with every date in a year of age times 100 sequences, about
3,300 candidates that the check character cannot narrow below 11 %: ``common/tests/test_masking_rebuild.py``
measures it on the demo population. The full number is shown only through the audited reveal.
"""

ID_SHOWN_HEAD = 6
ID_SHOWN_TAIL = 2


def mask_id_number(value: str | None) -> str:
    """``320506199001011234`` → ``320506**********34``; the same for a certificate number (the ID number
    followed by category and grade: ``…42`` shows category and grade, as their own columns do) and for any
    other ID-like text (an unusable number in a list, a search). Eight characters or fewer: all hidden."""
    if not value:
        return ""
    if len(value) <= ID_SHOWN_HEAD + ID_SHOWN_TAIL:
        return "*" * len(value)
    return value[:ID_SHOWN_HEAD] + "*" * (len(value) - ID_SHOWN_HEAD - ID_SHOWN_TAIL) + value[-ID_SHOWN_TAIL:]


def mask_bank_account(value: str | None) -> str:
    """``6222020000000001`` → ``622*********0001`` (first 3 and last 4, as banks print an account)."""
    if not value:
        return ""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str:
    if not value:
        return ""
    return value[0] + "*" * (len(value) - 1)
