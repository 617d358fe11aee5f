"""Resident ID numbers (GB 11643-1999) and disability certificate numbers.

Everything that reads an ID or certificate number goes through here: normalise first, then validate.
The checksum (GB 11643's mod 11-2) and the birth date are checked here, the birthplace code against
python-stdnum's ``stdnum.cn.ric`` code table (see ``_known_area``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from operator import mul

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_WEIGHT_SUM = sum(WEIGHTS)

_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FULL_WIDTH[0x3000] = 0x20  # ideographic space
_SPACES = re.compile(r"[\s\u00a0\u200b\u3000\-]+")
# [0-9], not \d: \d also matches other scripts' digits (٣, ३ …), which are not ID digits
CERT_RE = re.compile(r"^([0-9]{17}[0-9X])([1-7])([1-4])(B[0-9]*)?$")
_ID_RE = re.compile(r"[0-9]{17}[0-9X]")
_EXCEL_NUMBER_RE = re.compile(r"\d(\.\d+)?E\+\d+|\d{15,18}\.0+")

CATEGORY_LABELS = {1: "视力", 2: "听力", 3: "言语", 4: "肢体", 5: "智力", 6: "精神", 7: "多重"}
GRADE_LABELS = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}


class IdentityError(ValueError):
    """Invalid ID or certificate number; ``message`` is Chinese and says what is wrong."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def normalize(value: object) -> str:
    """Strip spaces and dashes, turn full-width digits and letters half-width, upper-case ``x``."""
    if value is None:
        return ""
    text = str(value).translate(_FULL_WIDTH)
    text = _SPACES.sub("", text)
    return text.upper()


def check_char(first17: str) -> str:
    if len(first17) != 17:
        raise ValueError("check_char needs the first 17 digits")
    if not first17.isdigit() or not first17.isascii():
        raise ValueError("check_char needs 17 ASCII digits")
    # weighted sum of the digits straight from their ASCII codes (0x30 + d): ~4x faster than int() per digit
    return CHECK_CHARS[(sum(map(mul, first17.encode("ascii"), WEIGHTS)) - 0x30 * _WEIGHT_SUM) % 11]


def upgrade_15(value: str) -> str:
    """15-digit legacy ID → 18 digits: insert ``19`` after the address code and append the check char."""
    if len(value) != 15 or not (value.isdigit() and value.isascii()):
        raise IdentityError("15位身份证号应全部为数字")
    first17 = value[:6] + "19" + value[6:]
    return first17 + check_char(first17)


def looks_like_excel_number(raw: object) -> bool:
    """True for IDs that Excel turned into a number (3.20506E+17, or a float that lost digits)."""
    if isinstance(raw, float):
        return True
    text = str(raw).strip()
    if "." not in text:  # both forms have a point: most IDs stop here
        return False
    return _EXCEL_NUMBER_RE.fullmatch(text.upper()) is not None


def validate_id(value: object) -> str:
    """Return the normalised 18-character ID or raise IdentityError with a Chinese message."""
    if looks_like_excel_number(value):
        raise IdentityError(
            "身份证号被 Excel 存成了数字（如 3.20506E+17），后几位已丢失；请把该列设为文本后重新填写"
        )
    text = normalize(value)
    if not text:
        raise IdentityError("身份证号不能为空")
    if len(text) == 15:
        if not (text.isdigit() and text.isascii()):
            raise IdentityError("15位身份证号应全部为数字")
        text = upgrade_15(text)
    if len(text) != 18:
        raise IdentityError(f"身份证号应为18位，实际为{len(text)}位")
    if not _ID_RE.fullmatch(text):
        raise IdentityError("身份证号前17位应为数字，末位为数字或X")
    if check_char(text[:17]) != text[17]:
        raise IdentityError(f"身份证号校验位错误（应为 {check_char(text[:17])}）")
    try:  # what ric.get_birth_date does after its (slow, here redundant) clean-up of the text
        date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError as exc:
        raise IdentityError("身份证号中的出生日期无效") from exc
    if not _known_area(text[:6]):
        raise IdentityError(f"身份证号中的地区代码 {text[:6]} 不存在")
    return text


@lru_cache(maxsize=4096)
def _known_area(code: str) -> bool:
    """An address code that python-stdnum knows in any period (cached: a lookup costs ~0.5 ms).

    Checksum (the same mod-11 as ``ric.calc_check_digit``) and birth date (as ``ric.get_birth_date``, without
    its slow clean-up of an already normalised text) are checked per number; the birthplace through stdnum's code table, once per code.

    stdnum also requires the county to have existed in the holder's birth year, but the code is the
    county of first registration, which may be years after birth: a Wuzhong resident born in 1980 who was
    first registered in 2001 holds a valid 320506 number that stdnum would reject. Code and date are still
    both checked; only the birth-year coincidence is relaxed.
    """
    from stdnum import numdb

    return any("county" in props for _part, props in numdb.get("cn/loc").info(code))


def is_valid_id(value: object) -> bool:
    try:
        validate_id(value)
    except IdentityError:
        return False
    return True


def birth_date(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def sex(id_number: str) -> str:
    """``M`` when the 17th digit is odd, else ``F``."""
    return "M" if int(id_number[16]) % 2 else "F"


def age_on(born: date, on: date) -> int:
    """Completed years on ``on`` (a person born on 29 Feb turns a year older on 1 Mar in common years)."""
    years = on.year - born.year
    if (on.month, on.day) < (born.month, born.day):
        years -= 1
    return years


@dataclass(frozen=True)
class CertificateNumber:
    number: str
    id_number: str
    category: int
    grade: int
    reissue: int  # 0 for the first issue; B → 1, B1 → 1, B2 → 2 …

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS[self.category]

    @property
    def grade_label(self) -> str:
        return GRADE_LABELS[self.grade]

    @property
    def severe(self) -> bool:
        return self.grade <= 2


def parse_certificate(value: object, *, holder_id: str | None = None) -> CertificateNumber:
    """Parse ``ID(18) + category + grade [+ B<n>]`` and check the ID part (against the holder's ID if given)."""
    text = normalize(value)
    if not text:
        raise IdentityError("残疾人证号不能为空")
    match = CERT_RE.fullmatch(text)
    if not match:
        raise IdentityError("残疾人证号格式应为：18位身份证号 + 类别(1-7) + 等级(1-4)，补发证可带 B1、B2…")
    id_part, cat, grade, suffix = match.groups()
    if id_part != holder_id:  # the holder's ID was validated already
        try:
            id_part = validate_id(id_part)
        except IdentityError as exc:
            raise IdentityError(f"残疾人证号中的身份证号部分无效：{exc.message}") from exc
    if holder_id is not None and id_part != holder_id:
        raise IdentityError("残疾人证号中的身份证号与持证人身份证号不一致")
    reissue = 0
    if suffix:
        reissue = int(suffix[1:]) if len(suffix) > 1 else 1
    return CertificateNumber(text, id_part, int(cat), int(grade), reissue)


def combined_grade(component_grades: list[int]) -> int:
    """A multiple disability takes the most severe (lowest-numbered) component grade."""
    if not component_grades:
        raise IdentityError("多重残疾至少应有一个残疾类别的等级")
    return min(component_grades)
