"""The same benchmark with Splink (DuckDB backend), for comparison with contactsync's matcher.

    PYTHONPATH=src python benchmarks/bench_splink.py benchmarks/data/100k

Times the whole run the same way as bench_match.py (read both CSV files, clean, train, predict, pick links,
write LINKS.csv), samples the same process-tree peak memory (DuckDB works in this process), and scores the
output with the same evaluate.py.

The configuration is what a competent Splink user would write for company contacts, not a straw man:

- cleaning in SQL: names lower-cased, accents stripped, punctuation dropped and common legal forms removed;
  tax ids compacted with a two-letter country prefix removed; phone numbers reduced to their last nine
  digits (which drops country codes and trunk zeros); postcodes compacted; country names mapped to ISO codes
  (with the same lookup table contactsync uses, so that cleaning quality is not what is compared);
- comparisons: name (exact, Jaro-Winkler >= 0.95 / 0.88 / 0.80, Levenshtein <= 2 on the name without
  spaces), tax id, email (Splink's EmailComparison), phone, postcode, city (Jaro-Winkler), country;
- blocking rules for prediction: tax id, email, phone, name prefix + country, postcode;
- training: the match prior from deterministic rules (tax id, email), u by random sampling, m by EM on a
  sample of pairs blocked on the tax id and, separately, on the name (so every comparison gets an m);
- for person sets (`--people`: no identifiers), comparisons on the name with its words sorted (so "Müller,
  Hans" meets "Hans Müller"), street (Jaro-Winkler 0.95 / 0.85), postcode (exact, one edit), city and
  country; blocking on postcode, on the sorted name's first three letters, and on street prefix + city;
  the prior from name + postcode agreement, u by random sampling, m by EM blocked on postcode and on name;
- decisions: Splink's own one-to-one clustering (`cluster_using_single_best_links`, both files treated as
  duplicate-free) at match probability >= 0.9 gives the links; a left record without a link whose best
  candidate scores >= 0.5 gets that candidate as a pair to review.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.comparison_level_library import (
    ElseLevel,
    ExactMatchLevel,
    JaroWinklerLevel,
    LevenshteinLevel,
    NullLevel,
)

from contactsync.matching.normalise.addresses import country_code
from evaluate import quality, read_truth
from memory import PeakMemory, cpu_seconds

LINK_PROBABILITY = 0.9
REVIEW_PROBABILITY = 0.5
THREADS = 2  # the machine the figures come from has two cores; both matchers get both

# Legal forms (written without dots) and connectives removed from names before comparison: the common ones
# of the markets in the data.
_LEGAL = (
    "gmbh|mbh|gesmbh|gesellschaft|mit|beschrankter|haftung|ag|aktiengesellschaft|kg|ek|ekfm|ug|"
    "haftungsbeschrankt|og|ltd|limited|plc|public|llp|llc|inc|incorporated|corp|corporation|co|company|"
    "sarl|sas|sa|rl|eurl|bv|nv|vof|holding|group|and|und|et|en|the"
)


def _clean_sql(source: str, path: Path) -> str:
    name = (
        "regexp_replace(regexp_replace(regexp_replace(lower(strip_accents(coalesce(name, ''))), '[.''`]', '', 'g'),"
        f" '[^a-z0-9]+', ' ', 'g'), '\\b({_LEGAL})\\b', ' ', 'g')"
    )
    return f"""
        create or replace table {source} as
        with raw as (select * from read_csv('{path}', all_varchar = true, header = true))
        select
            id as unique_id,
            nullif(trim(regexp_replace({name}, '\\s+', ' ', 'g')), '') as name_clean,
            nullif(regexp_replace(regexp_replace(upper(coalesce(tax_number, '')), '[^A-Z0-9]', '', 'g'),
                '^[A-Z]{{2}}', ''), '') as tax_clean,
            nullif(lower(trim(email)), '') as email,
            nullif(right(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), 9), '') as phone_clean,
            nullif(regexp_replace(upper(coalesce(postal_code, '')), '[^A-Z0-9]', '', 'g'), '') as postal_clean,
            nullif(lower(strip_accents(trim(city))), '') as city_clean,
            nullif(trim(regexp_replace(lower(strip_accents(coalesce(street, ''))), '[^a-z0-9]+', ' ', 'g')), '')
                as street_clean,
            country as country_raw
        from raw
    """


def _countries(con: duckdb.DuckDBPyConnection) -> None:
    values = [
        r[0]
        for r in con.execute("select distinct country_raw from l union select distinct country_raw from r").fetchall()
    ]
    con.execute("create or replace table country_map (raw varchar, code varchar)")
    con.executemany("insert into country_map values (?, ?)", [(v, country_code(v)) for v in values if v])
    for t in ("l", "r"):
        con.execute(
            f"""create or replace table {t} as
            select {t}.* exclude (country_raw), m.code as country_clean,
                   left(replace(name_clean, ' ', ''), 4) as name_prefix,
                   replace(name_clean, ' ', '') as name_squashed,
                   array_to_string(list_sort(string_split(name_clean, ' ')), ' ') as name_sorted,
                   left(array_to_string(list_sort(string_split(name_clean, ' ')), ''), 3) as sorted_prefix,
                   left(street_clean, 4) as street_prefix
            from {t} left join country_map m on m.raw = {t}.country_raw"""
        )


def _settings() -> SettingsCreator:
    name = cl.CustomComparison(
        comparison_levels=[
            NullLevel("name_clean"),
            ExactMatchLevel("name_clean"),
            JaroWinklerLevel("name_clean", 0.95),
            LevenshteinLevel("name_squashed", 2),
            JaroWinklerLevel("name_clean", 0.88),
            JaroWinklerLevel("name_clean", 0.80),
            ElseLevel(),
        ],
        output_column_name="name",
    )
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=[
            name,
            cl.ExactMatch("tax_clean"),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone_clean"),
            cl.ExactMatch("postal_clean"),
            cl.JaroWinklerAtThresholds("city_clean", [0.9]),
            cl.ExactMatch("country_clean"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("tax_clean"),
            block_on("email"),
            block_on("phone_clean"),
            block_on("name_prefix", "country_clean"),
            block_on("postal_clean"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def _people_settings() -> SettingsCreator:
    """For contacts that are people: name (word order free) and address only, no identifiers."""
    name = cl.CustomComparison(
        comparison_levels=[
            NullLevel("name_sorted"),
            ExactMatchLevel("name_sorted"),
            JaroWinklerLevel("name_sorted", 0.95),
            LevenshteinLevel("name_squashed", 2),
            JaroWinklerLevel("name_sorted", 0.88),
            JaroWinklerLevel("name_sorted", 0.80),
            ElseLevel(),
        ],
        output_column_name="name",
    )
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=[
            name,
            cl.JaroWinklerAtThresholds("street_clean", [0.95, 0.85]),
            cl.LevenshteinAtThresholds("postal_clean", [1]),
            cl.JaroWinklerAtThresholds("city_clean", [0.9]),
            cl.ExactMatch("country_clean"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("postal_clean"),
            block_on("sorted_prefix"),
            block_on("street_prefix", "city_clean"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def run(data: Path, out: Path, people: bool = False) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    """Match data/left.csv against data/right.csv with Splink; write LINKS.csv; return rows and counts."""
    con = duckdb.connect()
    con.execute(f"set threads = {THREADS}")
    con.execute(_clean_sql("l", data / "left.csv"))
    con.execute(_clean_sql("r", data / "right.csv"))
    _countries(con)
    db_api = DuckDBAPI(connection=con)
    left = db_api.register("l", dataset_display_name="left")
    right = db_api.register("r", dataset_display_name="right")
    linker = Linker([left, right], _people_settings() if people else _settings())
    if people:
        linker.training.estimate_probability_two_random_records_match(
            [block_on("name_sorted", "postal_clean")], recall=0.6
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("postal_clean"), max_pairs=2e5)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("sorted_prefix"), max_pairs=2e5)
    else:
        linker.training.estimate_probability_two_random_records_match(
            [block_on("tax_clean"), block_on("email")], recall=0.7
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("tax_clean"), max_pairs=2e5)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("name_clean"), max_pairs=2e5)
    predictions = linker.inference.predict(threshold_match_probability=REVIEW_PROBABILITY)
    clusters = linker.clustering.cluster_using_single_best_links(
        predictions, duplicate_free_datasets=["left", "right"], threshold_match_probability=LINK_PROBABILITY
    )
    pairs = con.execute(
        f"""select case when source_dataset_l = 'left' then unique_id_l else unique_id_r end,
                   case when source_dataset_l = 'left' then unique_id_r else unique_id_l end,
                   match_probability
            from {predictions.physical_name}"""
    ).fetchall()
    members = con.execute(f"select cluster_id, source_dataset, unique_id from {clusters.physical_name}").fetchall()
    by_cluster: dict[str, dict[str, str]] = {}
    for cluster_id, source, uid in members:
        by_cluster.setdefault(cluster_id, {})[source] = uid
    links = {c["left"]: c["right"] for c in by_cluster.values() if "left" in c and "right" in c}
    probability = {(lid, rid): p for lid, rid, p in pairs}
    best: dict[str, tuple[float, str]] = {}
    for lid, rid, p in pairs:
        if lid not in links and (lid not in best or p > best[lid][0]):
            best[lid] = (p, rid)
    rows: list[tuple[str, str, str]] = [(lid, rid, "link") for lid, rid in links.items()]
    rows += [(lid, rid, "review") for lid, (_, rid) in best.items()]
    with out.open("w", encoding="utf-8") as handle:
        handle.write("left_id,right_id,score,decision\n")
        for lid, rid, decision in sorted(rows):
            handle.write(f"{lid},{rid},{probability.get((lid, rid), 0.0):.4f},{decision}\n")
    return rows, {"pairs_compared": len(pairs), "n_left": con.execute("select count(*) from l").fetchone()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path, help="directory with left.csv, right.csv, truth.csv")
    parser.add_argument("--out", type=Path, default=None, help="LINKS.csv (default: DATA/links_splink.csv)")
    parser.add_argument("--people", action="store_true", help="the person-set configuration (name and address)")
    args = parser.parse_args()
    logging.getLogger("splink").setLevel(logging.WARNING)
    out = args.out or args.data / "links_splink.csv"
    with PeakMemory() as mem:
        start = time.perf_counter()
        cpu_start = cpu_seconds()
        rows, info = run(args.data, out, people=args.people)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_start
    truth = read_truth(args.data / "truth.csv")
    n_left = info["n_left"][0]
    result: dict[str, object] = {
        "engine": "splink",
        "left": n_left,
        "true_pairs": len(truth),
        "seconds": round(elapsed, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_mib": round(mem.peak_mib),
        "pairs_scored_above_review": info["pairs_compared"],
    }
    q = quality(rows, truth, n_left)
    result.update({k: round(v, 4) if isinstance(v, float) else v for k, v in q.items()})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
