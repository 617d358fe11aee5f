"""Record linkage between an outside list and the registry: pure Polars and RapidFuzz, no ORM.

Exact pass: the normalised 18-digit ID (or its blind index) joins set-based.
Fuzzy pass, for rows without an exact match, over candidate pairs found by blocking:
- ID blocks (pigeonhole): one substituted digit or two swapped adjacent digits leave intact at least one of
  ID[9:18], ID[0:9] (+ pinyin initials), ID[0:8]+ID[10:18] (+ pinyin initials);
- name blocks: the same pinyin (homophones) and the same birth date; for rows without an ID, the same
  pinyin initials and birth date (near names).
Each pair gets features (ID edit distance with transpositions, pinyin similarity, same birth date, and for
two 18-digit IDs the same county code, sex and sequence number) and a score from the rules below; the best
candidate per row is kept when it reaches ``min_score``. Each list kind has its own thresholds
(``engine.thresholds_for``): deaths and moving-out lists keep lower-scoring candidates, because a missed
match there keeps paying a dead or departed person. A person confirms a candidate unless its score reaches
the kind's ``auto_score`` (by default 1.0: only an exact ID acts on its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import OSA, JaroWinkler

REGISTRY_COLUMNS = ["person_id", "id_number", "name", "name_pinyin", "name_initials", "birth_date"]
ROW_COLUMNS = ["row_id", "id_number", "id_raw", "name", "name_pinyin", "name_initials", "birth_date"]


@dataclass(frozen=True)
class Thresholds:
    """Settings (``CANLIAN_MATCHING``, per list kind) may override these."""

    min_score: float = 0.80  # a candidate below this score is dropped
    near_name: float = 0.88  # Jaro-Winkler similarity of pinyin for "a similar name"
    auto_score: float = 1.0  # a candidate at or above this score acts without a person (exact IDs: 1.0)


# (match_type, score, Chinese evidence) — the first rule that fits a pair wins
RULES = (
    ("id_typo_same_name", 0.97, "身份证号相差一位（或相邻两位颠倒），姓名拼音相同"),
    ("id_typo_near_name", 0.90, "身份证号相差一位（或相邻两位颠倒），姓名相近"),
    ("name_birth_no_id", 0.92, "名单无有效身份证号；姓名拼音与出生日期相同"),
    ("near_name_birth_no_id", 0.82, "名单无有效身份证号；姓名相近且出生日期相同"),
    (
        "name_birth_other_sequence",
        0.70,
        "姓名拼音、出生日期、性别与户籍区县代码均相同，仅身份证顺序码不同（可能录错顺序码后重算了校验码）",
    ),
    ("name_birth_other_id", 0.60, "姓名拼音与出生日期相同，但身份证号不同"),
)
RULE_TEXT = {name: text for name, _, text in RULES}


# The features shown to the person who decides: (column, label); True = agrees, False = differs, None =
# cannot be told (no 18-digit ID on the list row)
AGREEMENT = (
    ("same_name", "姓名"),
    ("same_pinyin", "姓名拼音"),
    ("birth_equal", "出生日期"),
    ("same_sex", "性别（身份证号第17位）"),
    ("same_county", "户籍区县代码（身份证号前6位）"),
    ("same_sequence", "顺序码（身份证号第15-17位）"),
    ("same_id", "身份证号"),
)


def exact_matches(registry: pl.DataFrame, rows: pl.DataFrame, *, key: str = "id_number") -> pl.DataFrame:
    """row_id → person_id where the key is equal. A key held by two persons yields both (reported).

    The join runs on a 64-bit hash of the key (an integer join is about twice as fast as a string join at
    registry scale), then every joined pair is checked on the key itself, so a hash collision never
    yields a match.
    """
    listed = rows.select("row_id", key).filter(pl.col(key).is_not_null())
    pairs = (
        listed.lazy()
        .select("row_id", pl.col(key).hash().alias("_h"))
        .with_row_index("_i")
        .join(
            registry.lazy().select("person_id", pl.col(key).hash().alias("_h")).with_row_index("_j"),
            on="_h",
            how="inner",
        )
        .collect()
    )
    # one contiguous chunk each: gathering at random positions from many chunks (as read from Parquet)
    # costs far more than the copy
    equal = listed[key].rechunk().gather(pairs["_i"]) == registry[key].rechunk().gather(pairs["_j"])
    return pairs.filter(equal).select("row_id", "person_id")


def _blocks(registry: pl.LazyFrame, rows: pl.LazyFrame) -> pl.LazyFrame:
    raw = pl.col("id_raw")
    has18 = raw.str.len_chars() == 18
    rid = rows.filter(has18).with_columns(
        raw.str.slice(9, 9).alias("k_right"),
        (raw.str.slice(0, 9) + pl.col("name_initials")).alias("k_left"),
        (raw.str.slice(0, 8) + raw.str.slice(10, 8) + pl.col("name_initials")).alias("k_skip"),
    )
    reg = registry.with_columns(
        pl.col("id_number").str.slice(9, 9).alias("k_right"),
        (pl.col("id_number").str.slice(0, 9) + pl.col("name_initials")).alias("k_left"),
        (
            pl.col("id_number").str.slice(0, 8)
            + pl.col("id_number").str.slice(10, 8)
            + pl.col("name_initials")
        ).alias("k_skip"),
    )
    pairs = [
        rid.select("row_id", k).join(reg.select("person_id", k), on=k).select("row_id", "person_id")
        for k in ("k_right", "k_left", "k_skip")
    ]
    by_name = (
        rows.filter(pl.col("birth_date").is_not_null() & (pl.col("name_pinyin") != ""))
        .select("row_id", "name_pinyin", "birth_date")
        .join(registry.select("person_id", "name_pinyin", "birth_date"), on=["name_pinyin", "birth_date"])
        .select("row_id", "person_id")
    )
    near_name = (
        rows.filter(
            pl.col("birth_date").is_not_null() & (pl.col("id_raw").fill_null("").str.len_chars() < 15)
        )
        .select("row_id", "name_initials", "birth_date")
        .join(registry.select("person_id", "name_initials", "birth_date"), on=["name_initials", "birth_date"])
        .select("row_id", "person_id")
    )
    return pl.concat([*pairs, by_name, near_name]).unique()


def fuzzy_candidates(
    registry: pl.DataFrame,
    rows: pl.DataFrame,
    *,
    thresholds: Thresholds = Thresholds(),
    exclude_rows: pl.Series | None = None,
    workers: int = -1,
) -> pl.DataFrame:
    """Best candidate per unmatched row: row_id, person_id, match_type, score, id_distance, name_similarity,
    tied (another person scored the same), and the agreement of each field (``AGREEMENT``)."""
    rows_lf = rows.lazy()
    if exclude_rows is not None and len(exclude_rows):
        rows_lf = rows_lf.filter(~pl.col("row_id").is_in(exclude_rows.implode()))
    reg_lf = registry.lazy().select(REGISTRY_COLUMNS)
    pairs = (
        _blocks(reg_lf, rows_lf.select(ROW_COLUMNS))
        .join(rows_lf.select(ROW_COLUMNS), on="row_id")
        .join(reg_lf, on="person_id", suffix="_p")
        .collect()
    )
    if pairs.height == 0:
        return _empty()
    ids_a = pairs["id_raw"].fill_null("").to_list()
    ids_b = pairs["id_number_p"].to_list()
    names_a = pairs["name_pinyin"].fill_null("").to_list()
    names_b = pairs["name_pinyin_p"].to_list()
    id_distance = process.cpdist(ids_a, ids_b, scorer=OSA.distance, workers=workers)
    name_similarity = process.cpdist(names_a, names_b, scorer=JaroWinkler.similarity, workers=workers)
    scored = pairs.with_columns(
        pl.Series("id_distance", id_distance, dtype=pl.Int32),
        pl.Series("name_similarity", name_similarity, dtype=pl.Float64),
    ).with_columns(
        (pl.col("birth_date") == pl.col("birth_date_p")).fill_null(False).alias("birth_equal"),
        (pl.col("id_raw").fill_null("").str.len_chars() >= 15).alias("has_id"),
        (pl.col("name_pinyin") == pl.col("name_pinyin_p")).alias("same_pinyin"),
        (pl.col("name") == pl.col("name_p")).fill_null(False).alias("same_name"),
    )
    # two 18-digit IDs: county code ID[0:6], sequence ID[14:17] (its last digit's parity is the sex)
    both18 = (pl.col("id_raw").fill_null("").str.len_chars() == 18) & (
        pl.col("id_number_p").str.len_chars() == 18
    )
    listed, held = pl.col("id_raw"), pl.col("id_number_p")

    def when18(expr: pl.Expr) -> pl.Expr:
        return pl.when(both18).then(expr).otherwise(None)

    sex_digit = listed.str.slice(16, 1).str.to_integer(strict=False) % 2
    scored = scored.with_columns(
        when18(listed.str.slice(0, 6) == held.str.slice(0, 6)).alias("same_county"),
        when18(sex_digit == held.str.slice(16, 1).str.to_integer(strict=False) % 2).alias("same_sex"),
        when18(listed.str.slice(14, 3) == held.str.slice(14, 3)).alias("same_sequence"),
        when18(listed.str.slice(6, 8) == held.str.slice(6, 8)).alias("same_id_birth"),
        pl.when(pl.col("has_id")).then(pl.col("id_distance") == 0).otherwise(None).alias("same_id"),
    )
    near = pl.col("name_similarity") >= thresholds.near_name
    typo = pl.col("has_id") & (pl.col("id_distance") == 1)
    missing_id = ~pl.col("has_id")
    conditions = [
        typo & pl.col("same_pinyin"),
        typo & near,
        missing_id & pl.col("same_pinyin") & pl.col("birth_equal"),
        missing_id & near & pl.col("birth_equal"),
        # the near miss: one person keyed with a wrong sequence digit whose check digit was recomputed
        ~missing_id
        & pl.col("same_pinyin")
        & pl.col("birth_equal")
        & (pl.col("id_distance") >= 2)
        & pl.col("same_county").fill_null(False)
        & pl.col("same_id_birth").fill_null(False)
        & pl.col("same_sex").fill_null(False),
        ~missing_id & pl.col("same_pinyin") & pl.col("birth_equal") & (pl.col("id_distance") >= 2),
    ]
    rule = pl.when(conditions[0]).then(pl.lit(RULES[0][0]))
    score = pl.when(conditions[0]).then(pl.lit(RULES[0][1]))
    for cond, (name, value, _) in zip(conditions[1:], RULES[1:], strict=True):
        rule = rule.when(cond).then(pl.lit(name))
        score = score.when(cond).then(pl.lit(value))
    scored = scored.with_columns(
        rule.otherwise(None).alias("match_type"), score.otherwise(0.0).alias("score")
    )
    best = (
        scored.filter(pl.col("score") >= thresholds.min_score)
        .sort(["row_id", "score", "name_similarity"], descending=[False, True, True])
        .with_columns(
            (pl.col("score").rank("min", descending=True).over("row_id") == 1).alias("top"),
        )
        .filter(pl.col("top"))
        .with_columns((pl.len().over("row_id") > 1).alias("tied"))
        .group_by("row_id", maintain_order=True)
        .first()
        .select(_empty().columns)
    )
    return best


def _empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "row_id": pl.Int64,
            "person_id": pl.Int64,
            "match_type": pl.Utf8,
            "score": pl.Float64,
            "id_distance": pl.Int32,
            "name_similarity": pl.Float64,
            "birth_equal": pl.Boolean,
            "tied": pl.Boolean,
            "same_name": pl.Boolean,
            "same_pinyin": pl.Boolean,
            "same_sex": pl.Boolean,
            "same_county": pl.Boolean,
            "same_sequence": pl.Boolean,
            "same_id": pl.Boolean,
        }
    )
