import string

from django.core.exceptions import ValidationError


class CharacterClassValidator:
    """At least ``min_classes`` of: lower-case, upper-case, digits, symbols."""

    def __init__(self, min_classes: int = 3):
        self.min_classes = min_classes

    def validate(self, password, user=None):
        classes = [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(c in string.punctuation or not c.isalnum() for c in password),
        ]
        if sum(classes) < self.min_classes:
            raise ValidationError(
                f"密码至少包含大写字母、小写字母、数字、符号中的{self.min_classes}类。",
                code="password_too_simple",
            )

    def get_help_text(self):
        return f"密码至少包含大写字母、小写字母、数字、符号中的{self.min_classes}类。"
