"""Optional instrument columns of a questionnaire file: same problem table, scored once, kept and stored."""
from __future__ import annotations

import pandas as pd
import pytest

from analytics import validate_questionnaires
from analytics.instruments import MADRS, PCL5, QIDS_SR16
from analytics.store import import_questionnaires, read_store, revert_import
from analytics.store_schema import SCORE_COLUMNS


def base_rows(n=2) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": [f"P{i}" for i in range(1, n + 1)], "day": [0] * n, "phq9_total": [12] * n})


def qids(rows: list[list]) -> dict:
    return {c: [r[i] for r in rows] for i, c in enumerate(QIDS_SR16.items)}


def problems(report) -> list[tuple]:
    return [(int(r.line), r.column, r.problem) for r in report.errors.itertuples()]


def test_qids_items_scored_by_domain_and_kept_in_the_canonical_frame():
    # row 1: sleep max(1,3,0,2)=3, mood 1, appetite max(0,2,1,0)=2, 1, 0, 0, 1, 2, psychomotor max(1,0)=1 -> 11
    df = base_rows().assign(**qids([[1, 3, 0, 2, 1, 0, 2, 1, 0, 1, 0, 0, 1, 2, 1, 0], [0] * 16]))
    report = validate_questionnaires(df)
    assert report.ok, report.to_text()
    assert report.frame["qids_sr16_total"].tolist() == [11, 0]
    assert str(report.frame["qids_sr16_total"].dtype) == "Int16"
    assert "qids_sr16_1" in report.frame and "attributes" not in report.frame


def test_bad_cells_of_every_instrument_in_one_table_with_line_column_and_what_is_allowed():
    df = base_rows(3).assign(**qids([[4] + [0] * 15, [0] * 16, ["x"] + [0] * 15]),
                             qids_sr16_total=[None, 5, None], madrs_total=[61, 10, None],
                             pcl5_total=[None, -1, 80], cssrs_1=["yes", "maybe", "no"], cssrs_2=["no", "no", "no"],
                             cssrs_3=["yes", None, None], cssrs_6=["no", "no", "no"])
    report = validate_questionnaires(df)
    got = problems(report)
    assert (2, "qids_sr16_1", "QIDS-SR16 item is out of range; allowed: 0 to 3, or blank") in got
    assert (4, "qids_sr16_1", "QIDS-SR16 item is not a whole number; allowed: a whole number from 0 to 3, or blank") \
        in got
    assert (3, "qids_sr16_total", "QIDS-SR16 total does not equal the highest item of each domain, summed; correct "
                                  "the total or the items") in got
    assert (2, "madrs_total", "MADRS total is out of range; allowed: 0 to 60, or blank") in got
    assert (3, "pcl5_total", "PCL-5 total is out of range; allowed: 0 to 80, or blank") in got
    assert any(line == 3 and col == "cssrs_1" and "not yes or no" in p for line, col, p in got)
    assert any(line == 2 and col == "cssrs_3" and "asked only when cssrs_2 is yes" in p for line, col, p in got)
    assert report.frame is None  # all or nothing


def test_a_total_alone_is_kept_and_a_blank_item_without_total_is_a_warning():
    items = [[1] * 9 + [None], [2] * 10]
    df = base_rows().assign(**{c: [r[i] for r in items] for i, c in enumerate(MADRS.items)})
    df["pcl5_total"] = [40, None]
    report = validate_questionnaires(df)
    assert report.ok
    assert report.frame["madrs_total"].tolist()[1] == 20 and pd.isna(report.frame["madrs_total"].iloc[0])
    assert report.frame["pcl5_total"].tolist()[0] == 40
    warned = report.warnings[report.warnings["problem"].str.startswith("incomplete MADRS")]
    assert warned["line"].tolist() == [2]


def test_some_item_columns_without_a_total_column_is_refused_at_line_1():
    df = base_rows().assign(pcl5_1=[1, 2], pcl5_2=[0, 0])
    got = problems(validate_questionnaires(df))
    assert len(got) == 1 and got[0][0] == 1 and "PCL-5 columns are incomplete" in got[0][2]
    assert "pcl5_20" in got[0][2] and "pcl5_total" in got[0][2]


def test_misnamed_instrument_columns_are_refused_not_kept_as_text():
    got = problems(validate_questionnaires(base_rows().assign(qids_1=[1, 1], cssrs_positive_screen=["yes", "no"])))
    assert (1, "qids_1", "QIDS-SR16 columns are named qids_sr16_1 ... qids_sr16_16 and qids_sr16_total; rename "
                         "'qids_1' (or map it) to qids_sr16_1") in got
    assert any(col == "cssrs_positive_screen" and "is not a C-SSRS screener column" in p for _, col, p in got)


def test_phq9_stays_required_and_the_error_says_why():
    report = validate_questionnaires(pd.DataFrame({"patient_id": ["a"], "day": [0], "qids_sr16_total": [5],
                                                   "gad7_total": [3]}))
    (problem,) = report.errors["problem"].tolist()
    assert "PHQ-9 columns are missing" in problem
    assert "This file has GAD-7, QIDS-SR16 columns" in problem and "every questionnaire file needs" in problem


def test_cssrs_flags_computed_once():
    df = base_rows(3).assign(cssrs_1=["no", "no", "yes"], cssrs_2=["yes", "no", "no"], cssrs_3=["no", None, None],
                             cssrs_4=["no", None, None], cssrs_5=["yes", None, None], cssrs_6=["no", "yes", "no"],
                             cssrs_6_recent=[None, "yes", None])
    f = validate_questionnaires(df).frame
    assert f["cssrs_positive_screen"].tolist() == [True, True, True]  # intent; recent behaviour; wish to be dead
    assert f["cssrs_recent_ideation"].tolist() == [True, False, True]
    assert f["cssrs_recent_behaviour"].tolist() == [False, True, False]


def test_store_keeps_the_other_instruments_through_import_correction_and_revert(tmp_path, store_db):
    db = store_db  # SQLite, then PostgreSQL
    first = base_rows().assign(madrs_total=[30, 20], qids_sr16_total=[14, None], cssrs_1=["yes", "no"],
                               cssrs_2=["no", "no"], cssrs_6=["no", "no"])
    path = tmp_path / "a.csv"
    first.to_csv(path, index=False)
    import_questionnaires(path, db=db)
    stored = read_store(db).frame
    assert stored["madrs_total"].tolist() == [30, 20]
    assert stored["qids_sr16_total"].tolist()[0] == 14 and stored["cssrs_1"].tolist() == [True, False]
    assert stored["cssrs_positive_screen"].tolist() == [True, False]
    second = first.assign(madrs_total=[31, 20])  # a correction of one MADRS total
    path2 = tmp_path / "b.csv"
    second.to_csv(path2, index=False)
    result = import_questionnaires(path2, db=db, accept_corrections=True)
    assert read_store(db).frame["madrs_total"].tolist() == [31, 20]
    revert_import(result.import_id, db=db)
    assert read_store(db).frame["madrs_total"].tolist() == [30, 20]
    assert {"qids_sr16_16", "madrs_total", "pcl5_total", "cssrs_6_recent"} <= set(SCORE_COLUMNS)
    assert PCL5.total in SCORE_COLUMNS


@pytest.mark.parametrize("fmt", ["xlsx", "parquet"])
def test_other_formats_carry_the_columns(tmp_path, fmt):
    df = base_rows().assign(madrs_total=[30, 20])
    path = tmp_path / f"q.{fmt}"
    (df.to_excel(path, index=False) if fmt == "xlsx" else df.to_parquet(path, index=False))
    report = validate_questionnaires(path)
    assert report.ok and report.frame["madrs_total"].tolist() == [30, 20]


def test_the_store_names_the_same_derived_flags_the_stage_computes():
    from analytics.instrument_columns import CSSRS_FLAGS
    from analytics.store_schema import DERIVED_SCORE_COLUMNS
    assert DERIVED_SCORE_COLUMNS == [f"cssrs_{f}" for f in CSSRS_FLAGS]


def test_a_mapped_export_carries_the_other_instruments(tmp_path):
    from analytics.sources import read_source

    path = tmp_path / "ehr.csv"
    path.write_text("Pseudonym,Study Day,PHQ9 Score,QIDS Score,MADRS Score\nP1,0,15,14,30\nP1,28,6,5,12\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\n"Pseudonym" = "patient_id"\n"Study Day" = "day"\n"PHQ9 Score" = "phq9_total"\n'
                       '"QIDS Score" = "qids_sr16_total"\n"MADRS Score" = "madrs_total"\n')
    report = validate_questionnaires(read_source(path, mapping=mapping))
    assert report.ok, report.to_text()
    assert report.frame["qids_sr16_total"].tolist() == [14, 5] and report.frame["madrs_total"].tolist() == [30, 12]
    bad = path.read_text().replace("14,30", "28,30")
    path.write_text(bad)
    errors = validate_questionnaires(read_source(path, mapping=mapping)).errors
    # the problem names the export's own header, as every mapped problem does
    assert errors[["line", "column"]].values.tolist() == [[2, "QIDS Score"]]


def test_the_research_export_carries_the_other_totals_without_changing_its_phq9_outcomes(tmp_path):
    from analytics import OutcomeDefinitions, patient_outcomes
    from analytics.research_export import write_research_export

    n = 12  # above the small-cell rule
    df = pd.DataFrame({"patient_id": [f"P{i:02d}" for i in range(n) for _ in (0, 1)],
                       "day": [0, 42] * n, "phq9_total": [15, 6] * n, "madrs_total": [30, 12] * n})
    frame = validate_questionnaires(df).frame
    write_research_export(frame, patient_outcomes(frame), cohort={"name": "all", "definition": {}},
                          definitions=OutcomeDefinitions(), out_dir=tmp_path, fingerprint="test")
    long = pd.read_csv(tmp_path / "questionnaires.csv")
    assert long["madrs_total"].tolist() == [30, 12] * n
    dictionary = pd.read_csv(tmp_path / "data_dictionary.csv").set_index("variable")
    assert dictionary.loc["madrs_total", "type"] == "integer 0-60"
    assert "patient_id" not in long and "assessment_date" not in long


def test_a_store_of_the_previous_schema_gains_the_instrument_columns(tmp_path, store_db):
    from analytics.store import open_store
    from analytics.store_backends import store_backend
    from analytics.store_schema import INSTRUMENT_SCORE_COLUMNS, MIGRATIONS, SCHEMA_VERSION
    from conftest import TINY

    import_questionnaires(TINY, db=store_db)
    before = read_store(store_db).frame
    step = next(i for i, m in enumerate(MIGRATIONS) if isinstance(m, str) and "qids_sr16_1 INTEGER" in m)
    con = open_store(store_db)
    for c in INSTRUMENT_SCORE_COLUMNS:  # the store as it was before this step
        con.execute(f"ALTER TABLE questionnaires DROP COLUMN {c}")
    store_backend(store_db).set_schema_version(con, step)
    con.close()
    path = tmp_path / "more.csv"
    base_rows().assign(patient_id=["N1", "N2"], madrs_total=[30, 20]).to_csv(path, index=False)
    import_questionnaires(path, db=store_db)  # migrates, then imports
    con = open_store(store_db)
    assert store_backend(store_db).schema_version(con) == SCHEMA_VERSION
    con.close()
    after = read_store(store_db).frame
    old = after[after["patient_id"].astype(str).isin(before["patient_id"].astype(str))]
    assert old["phq9_total"].tolist() == before["phq9_total"].tolist() and old["madrs_total"].isna().all()
    assert after.loc[after["patient_id"].astype(str) == "N1", "madrs_total"].tolist() == [30]


def test_an_incomplete_screener_is_a_warning_naming_the_item():
    df = base_rows(2).assign(cssrs_1=["no", None], cssrs_2=["yes", "no"], cssrs_6=["yes", "no"])
    report = validate_questionnaires(df)
    assert report.ok
    w = report.warnings
    got = set(zip(w["line"], w["column"]))
    # line 2: item 2 yes but items 3-5 absent, item 6 yes but 6_recent absent; line 3: item 1 blank
    assert {(2, "cssrs_3"), (2, "cssrs_4"), (2, "cssrs_5"), (2, "cssrs_6_recent"), (3, "cssrs_1")} <= got
    assert report.frame["cssrs_recent_behaviour"].isna().tolist() == [True, False]


def test_a_narrower_frame_keeps_the_asked_instrument_columns_and_the_same_warnings():
    items = [[1] * 9 + [None], [2] * 10]
    df = base_rows().assign(**{c: [r[i] for r in items] for i, c in enumerate(MADRS.items)}, pcl5_total=[40, 50])
    full = validate_questionnaires(df)
    narrow = validate_questionnaires(df, columns=["day", "madrs_total"])
    assert list(narrow.frame.columns) == ["patient_id", "day", "madrs_total"]
    assert narrow.frame["madrs_total"].tolist()[1] == 20
    pd.testing.assert_frame_equal(narrow.warnings, full.warnings)
