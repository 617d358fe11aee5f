"""Exact and fuzzy matching on small frames with every kind of error the lists carry."""

from datetime import date

import polars as pl

from canlian.registry.identity import check_char
from canlian.verification.matching import RULE_TEXT, Thresholds, exact_matches, fuzzy_candidates


def ident(first17: str) -> str:
    return first17 + check_char(first17)


A = ident("32050619800506001")  # 张伟
B = ident("32050619751108002")  # 李娜
C = ident("32050619900101003")  # 王芳
D = ident("32050619900101004")  # 王方 (same birth date as 王芳)
REGISTRY = pl.DataFrame(
    {
        "person_id": [1, 2, 3, 4],
        "id_number": [A, B, C, D],
        "name": ["张伟", "李娜", "王芳", "王方"],
        "name_pinyin": ["zhangwei", "lina", "wangfang", "wangfang"],
        "name_initials": ["zw", "ln", "wf", "wf"],
        "birth_date": [date(1980, 5, 6), date(1975, 11, 8), date(1990, 1, 1), date(1990, 1, 1)],
    }
)


def rows(*items):
    data = []
    for i, (id_number, id_raw, name, pinyin, initials, born) in enumerate(items, start=1):
        data.append(
            {
                "row_id": i,
                "id_number": id_number,
                "id_raw": id_raw,
                "name": name,
                "name_pinyin": pinyin,
                "name_initials": initials,
                "birth_date": born,
            }
        )
    return pl.DataFrame(
        data,
        schema={
            "row_id": pl.Int64,
            "id_number": pl.Utf8,
            "id_raw": pl.Utf8,
            "name": pl.Utf8,
            "name_pinyin": pl.Utf8,
            "name_initials": pl.Utf8,
            "birth_date": pl.Date,
        },
    )


def test_exact_by_id():
    r = rows((A, A, "张伟", "zhangwei", "zw", None), (None, "", "某某", "moumou", "mm", None))
    assert exact_matches(REGISTRY, r).rows() == [(1, 1)]


def _fuzzy(r):
    exact = exact_matches(REGISTRY, r)
    return {
        row["row_id"]: row
        for row in fuzzy_candidates(REGISTRY, r, exclude_rows=exact["row_id"]).iter_rows(named=True)
    }


def test_one_digit_typo_same_name():
    typo = A[:10] + str((int(A[10]) + 1) % 10) + A[11:]
    got = _fuzzy(rows((None, typo, "张伟", "zhangwei", "zw", None)))
    assert (got[1]["person_id"], got[1]["match_type"], got[1]["score"], got[1]["id_distance"]) == (
        1,
        "id_typo_same_name",
        0.97,
        1,
    )


def test_swapped_adjacent_digits_across_the_middle_with_homophone_name():
    swapped = B[:8] + B[9] + B[8] + B[10:]
    assert swapped != B
    got = _fuzzy(rows((None, swapped, "李纳", "lina", "ln", None)))
    assert (got[1]["person_id"], got[1]["match_type"], got[1]["id_distance"]) == (2, "id_typo_same_name", 1)


def test_typo_with_near_name():
    typo = B[:3] + str((int(B[3]) + 5) % 10) + B[4:]
    got = _fuzzy(rows((None, typo, "李那", "lina", "ln", None)))
    assert got[1]["person_id"] == 2
    got = _fuzzy(rows((None, typo, "李妮", "lini", "ln", None)))
    assert (got[1]["person_id"], got[1]["match_type"]) == (2, "id_typo_near_name")


def test_missing_id_same_pinyin_and_birth_date_is_tied_between_homophones():
    got = _fuzzy(rows((None, "", "王芳", "wangfang", "wf", date(1990, 1, 1))))
    assert got[1]["match_type"] == "name_birth_no_id"
    assert got[1]["tied"] is True  # 王芳 and 王方: a person must choose
    assert got[1]["person_id"] in (3, 4)


def test_missing_id_near_name():
    got = _fuzzy(
        rows(
            (None, "", "张玮", "zhangwei", "zw", date(1980, 5, 6)),
            (None, "", "章威", "zhangweii", "zw", date(1980, 5, 6)),
        )
    )
    assert got[1]["match_type"] == "name_birth_no_id"
    assert (got[2]["person_id"], got[2]["match_type"]) == (1, "near_name_birth_no_id")


def test_no_candidate_for_a_stranger_or_a_conflicting_id():
    stranger = ident("32050619660606006")
    got = _fuzzy(
        rows(
            (stranger, stranger, "赵六", "zhaoliu", "zl", date(1966, 6, 6)),
            (
                ident("32050619800506099"),
                ident("32050619800506099"),
                "张伟",
                "zhangwei",
                "zw",
                date(1980, 5, 6),
            ),
        )
    )
    assert 1 not in got
    assert 2 not in got  # same name and birth date, but a different valid ID: score 0.60 < 0.80


def test_every_rule_has_an_explanation():
    assert set(RULE_TEXT) == {
        "id_typo_same_name",
        "id_typo_near_name",
        "name_birth_no_id",
        "near_name_birth_no_id",
        "name_birth_other_sequence",
        "name_birth_other_id",
    }


def _rekeyed(valid: str, position: int, digit: str) -> str:
    """A valid ID with one sequence digit mis-keyed and the check digit recomputed: valid again."""
    first17 = valid[:position] + digit + valid[position + 1 : 17]
    return ident(first17)


def _near_miss(id_number, *, min_score=0.70):
    r = rows((id_number, id_number, "张伟", "zhangwei", "zw", date(1980, 5, 6)))
    got = fuzzy_candidates(REGISTRY, r, thresholds=Thresholds(min_score=min_score))
    return {row["row_id"]: row for row in got.iter_rows(named=True)}


def test_near_miss_other_sequence_same_sex_and_county_scores_070_with_its_evidence():
    # given 张伟's ID with its first sequence digit mis-keyed (0 → 7) and the check digit recomputed
    other = _rekeyed(A, 14, "7")
    assert other != A and other[:14] == A[:14] and other[16] == A[16]
    # when matched with the default threshold, it is dropped (0.70 < 0.80)
    assert _near_miss(other, min_score=0.80) == {}
    # when matched with a deaths list's threshold (0.70), it is a candidate
    got = _near_miss(other)[1]
    assert (got["person_id"], got["match_type"], got["score"], got["id_distance"]) == (
        1,
        "name_birth_other_sequence",
        0.70,
        2,
    )
    # and every field says whether it agrees
    assert {
        k: got[k]
        for k in (
            "same_name",
            "same_pinyin",
            "birth_equal",
            "same_sex",
            "same_county",
            "same_sequence",
            "same_id",
        )
    } == {
        "same_name": True,
        "same_pinyin": True,
        "birth_equal": True,
        "same_sex": True,
        "same_county": True,
        "same_sequence": False,
        "same_id": False,
    }


def test_other_sex_or_other_county_is_not_a_near_miss():
    # the sex digit (17th) of another parity: another person, 0.60, dropped even at 0.70
    other_sex = _rekeyed(A, 16, "2")
    assert int(other_sex[16]) % 2 != int(A[16]) % 2
    assert _near_miss(other_sex) == {}
    got = _near_miss(other_sex, min_score=0.60)[1]
    assert (got["match_type"], got["score"], got["same_sex"]) == ("name_birth_other_id", 0.60, False)
    # another county (320507): 0.60 as well
    other_county = ident("320507" + A[6:17])
    assert _near_miss(other_county) == {}
    got = _near_miss(other_county, min_score=0.60)[1]
    assert (got["match_type"], got["same_county"], got["same_sequence"]) == (
        "name_birth_other_id",
        False,
        True,
    )


def test_rows_without_an_id_cannot_tell_sex_county_or_sequence():
    got = _fuzzy(rows((None, "", "张伟", "zhangwei", "zw", date(1980, 5, 6))))[1]
    assert got["match_type"] == "name_birth_no_id"
    assert (got["same_sex"], got["same_county"], got["same_sequence"], got["same_id"]) == (None,) * 4
    assert (got["same_name"], got["birth_equal"]) == (True, True)


def test_exact_on_another_key_yields_every_holder_and_skips_empty_keys():
    # given a registry where two persons share one blind index (a duplicate to report) and a list with a
    # row per key, one of them empty
    registry = pl.DataFrame({"person_id": [1, 2, 3, 4], "id_index": ["a" * 40, "b" * 40, "b" * 40, "c" * 40]})
    listed = pl.DataFrame(
        {"row_id": [10, 11, 12, 13], "id_index": ["b" * 40, None, "a" * 40, "d" * 40]},
        schema={"row_id": pl.Int64, "id_index": pl.Utf8},
    )
    # when matching on the blind index
    got = exact_matches(registry, listed, key="id_index")
    # then the shared key yields both holders, the empty and the unknown key nothing
    assert sorted(got.rows()) == [(10, 2), (10, 3), (12, 1)]
    assert got.columns == ["row_id", "person_id"]


def test_exact_checks_the_key_itself_not_only_its_hash(monkeypatch):
    # given a hash that collides for every key (as a 64-bit hash may, very rarely, at registry scale)
    calls = []

    def collide(self, *args, **kwargs):
        calls.append(1)
        return pl.lit(7, dtype=pl.UInt64)

    monkeypatch.setattr(pl.Expr, "hash", collide)
    r = rows((A, A, "张伟", "zhangwei", "zw", None), (C, C, "王芳", "wangfang", "wf", None))
    # when matching exactly
    got = exact_matches(REGISTRY, r)
    # then only equal IDs match
    assert calls
    assert sorted(got.rows()) == [(1, 1), (2, 3)]
