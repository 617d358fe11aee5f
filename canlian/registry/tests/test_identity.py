"""ID and certificate rules: scenario tests and property tests (hypothesis)."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from canlian.registry import identity

AREAS = ["320506", "320524", "320586", "110105", "370802", "320500"]


@st.composite
def valid_ids(draw):
    area = draw(st.sampled_from(AREAS))
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31)))
    seq = draw(st.integers(min_value=0, max_value=999))
    first17 = f"{area}{born:%Y%m%d}{seq:03d}"
    return first17 + identity.check_char(first17)


@st.composite
def legacy_ids(draw):
    area = draw(st.sampled_from(AREAS))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)))
    seq = draw(st.integers(min_value=0, max_value=999))
    return f"{area}{born:%y%m%d}{seq:03d}"


def test_domain_examples():
    assert identity.validate_id("11010519491231002X") == "11010519491231002X"
    assert identity.upgrade_15("370802940221002") == "370802199402210029"
    assert identity.validate_id("370802940221002") == "370802199402210029"


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",
        " 110105 19491231 002X ",
        "１１０１０５１９４９１２３１００２Ｘ",
        "110105-19491231-002x",
        "１１０１０５１９４９１２３１００２ｘ",
    ],
)
def test_normalisation_forms(raw):
    assert identity.validate_id(raw) == "11010519491231002X"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "身份证号不能为空"),
        ("1101051949123100", "身份证号应为18位，实际为16位"),
        ("11010519491231002A", "身份证号前17位应为数字，末位为数字或X"),
        ("110105194912310021", "身份证号校验位错误（应为 X）"),
        (
            3.20506e17,
            "身份证号被 Excel 存成了数字（如 3.20506E+17），后几位已丢失；请把该列设为文本后重新填写",
        ),
        (
            "3.20506E+17",
            "身份证号被 Excel 存成了数字（如 3.20506E+17），后几位已丢失；请把该列设为文本后重新填写",
        ),
    ],
)
def test_invalid_ids_say_what_is_wrong(raw, message):
    with pytest.raises(identity.IdentityError) as exc:
        identity.validate_id(raw)
    assert exc.value.message == message


def test_invalid_birth_date_and_unknown_area():
    bad_date = "11010519490231002"
    with pytest.raises(identity.IdentityError, match="出生日期无效"):
        identity.validate_id(bad_date + identity.check_char(bad_date))
    unknown = "99999919800101001"
    with pytest.raises(identity.IdentityError, match="地区代码 999999 不存在"):
        identity.validate_id(unknown + identity.check_char(unknown))


def test_wuzhong_code_accepted_for_people_born_before_the_district():
    first17 = "32050619600101001"
    number = first17 + identity.check_char(first17)
    assert not ric.is_valid(number)  # stdnum ties the code to the birth year
    assert identity.validate_id(number) == number


def test_birth_sex_and_age():
    assert identity.birth_date("11010519491231002X") == date(1949, 12, 31)
    assert identity.sex("11010519491231002X") == "F"
    assert identity.sex("370802199402210029") == "F"
    assert identity.sex("110105194912310038") == "M"
    assert identity.age_on(date(2005, 6, 15), date(2023, 6, 14)) == 17
    assert identity.age_on(date(2005, 6, 15), date(2023, 6, 15)) == 18
    assert identity.age_on(date(2004, 2, 29), date(2022, 2, 28)) == 17
    assert identity.age_on(date(2004, 2, 29), date(2022, 3, 1)) == 18


def test_certificate_parsing():
    cert = identity.parse_certificate("11010519491231002x42", holder_id="11010519491231002X")
    assert (cert.id_number, cert.category, cert.grade, cert.reissue, cert.severe) == (
        "11010519491231002X",
        4,
        2,
        0,
        True,
    )
    assert identity.parse_certificate("11010519491231002X63B").reissue == 1
    assert identity.parse_certificate("11010519491231002X63B2").reissue == 2
    assert identity.parse_certificate("11010519491231002X63B2").category_label == "精神"


@pytest.mark.parametrize(
    ("raw", "holder", "fragment"),
    [
        ("11010519491231002X82", None, "格式"),
        ("11010519491231002X45", None, "格式"),
        ("11010519491231002X4", None, "格式"),
        ("11010519491231002142", None, "身份证号部分无效"),
        ("11010519491231002X42", "370802199402210029", "不一致"),
        ("", None, "不能为空"),
    ],
)
def test_invalid_certificates(raw, holder, fragment):
    with pytest.raises(identity.IdentityError, match=fragment):
        identity.parse_certificate(raw, holder_id=holder)


def test_multiple_disability_takes_most_severe_grade():
    assert identity.combined_grade([3, 2, 4]) == 2
    with pytest.raises(identity.IdentityError):
        identity.combined_grade([])


@settings(max_examples=300, deadline=None)
@given(valid_ids())
def test_checksum_agrees_with_stdnum(number):
    assert ric.calc_check_digit(number) == number[-1]
    assert identity.validate_id(number) == number


@settings(max_examples=300, deadline=None)
@given(valid_ids(), st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=9))
def test_any_single_digit_change_is_caught(number, pos, delta):
    changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    assert not identity.is_valid_id(changed) or changed[:17] == number[:17]


@settings(max_examples=300, deadline=None)
@given(legacy_ids())
def test_15_to_18_round_trip(old):
    new = identity.upgrade_15(old)
    assert len(new) == 18
    assert new[:6] + new[8:17] == old
    assert new[6:8] == "19"
    assert identity.check_char(new[:17]) == new[17]
    assert identity.birth_date(new).strftime("%y%m%d") == old[6:12]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789xX １２３４５６７８９０ｘＸ\u3000-", max_size=30))
def test_normalise_is_idempotent(text):
    once = identity.normalize(text)
    assert identity.normalize(once) == once
    assert " " not in once and "x" not in once


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789X٠١٢٣४५६७८९", min_size=15, max_size=20))
def test_other_scripts_digits_are_refused_with_a_message(text):
    """Arabic-Indic and Devanagari digits are digits to Python (``isdigit``, ``\\d``) but not ID digits:
    an IdentityError with a message, never another exception."""
    try:
        identity.validate_id(text)
    except identity.IdentityError as exc:
        assert exc.message
    else:
        assert text.isascii()
    try:
        identity.parse_certificate(text + "12")
    except identity.IdentityError as exc:
        assert exc.message
