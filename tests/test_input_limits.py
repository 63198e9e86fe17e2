"""Limits checked before decompression and parsing, and clear messages for files that are not what they seem.

Each test builds a small instance of a class of hostile or broken input (the full-size worst cases are
in benchmarks/bench_limits.py) and checks the refusal: a message naming the file, the line where it
means something, what is wrong and what is allowed.
"""
from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics import UnreadableFileError, loading, read_table, validate_questionnaires
from analytics.definitions import MAX_COLUMNS
from analytics.sources import read_source
from conftest import SAMPLE

GOOD = "patient_id,day,phq9_total,phq9_9\n001,0,12,1\n001,42,5,0\n"


def _xlsx_bytes(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_excel(out, index=False)
    return out.getvalue()


def _rezip(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """The same workbook with some parts replaced or added (deflated, as Excel writes them)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, (replace or {}).get(info.filename, src.read(info.filename)))
        for name, body in (add or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


SMALL = pd.DataFrame({"patient_id": ["001", "001"], "day": [0, 42], "phq9_total": [12, 5], "phq9_9": [1, 0]})


# ----------------------------------------------------------------------------- XLSX: the zip directory first

def test_xlsx_part_that_expands_too_far_is_refused_before_opening(tmp_path):
    book = _xlsx_bytes(SMALL)
    with zipfile.ZipFile(io.BytesIO(book)) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml")
    # 20 MB of one repeated row: deflates about 1000 to 1
    row = b'<row r="3"><c r="A3" t="inlineStr"><is><t>001</t></is></c></row>'
    bomb = sheet.replace(b"</sheetData>", row * (20_000_000 // len(row)) + b"</sheetData>")
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(_rezip(book, replace={"xl/worksheets/sheet1.xml": bomb}))
    assert path.stat().st_size < 200_000
    with pytest.raises(UnreadableFileError, match=r"bomb.xlsx: the part xl/worksheets/sheet1.xml is compressed "
                                                   r"[\d,]+ to 1 .*at most 200 to 1"):
        read_table(path)


def test_xlsx_total_size_and_part_count_are_limited(tmp_path, monkeypatch):
    book = _xlsx_bytes(SMALL)
    path = tmp_path / "many.xlsx"
    path.write_bytes(_rezip(book, add={f"xl/media/image{i}.bin": b"" for i in range(300)}))
    monkeypatch.setattr(loading, "MAX_ZIP_MEMBERS", 100)
    with pytest.raises(UnreadableFileError, match=r"many.xlsx: the workbook has 3\d\d parts; at most 100"):
        read_table(path)
    monkeypatch.setattr(loading, "MAX_ZIP_MEMBERS", 10_000)
    monkeypatch.setattr(loading, "MAX_ZIP_UNCOMPRESSED_BYTES", 1000)
    with pytest.raises(UnreadableFileError, match="many.xlsx: the workbook expands to .* MB; at most 0 MB"):
        read_table(path)


def test_xlsx_forged_dimension_does_not_pad_rows(tmp_path):
    """A sheet claiming A1:XFD1048576 is read by its cells, not padded to 16,384 columns."""
    book = _xlsx_bytes(SMALL)
    with zipfile.ZipFile(io.BytesIO(book)) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml")
    import re
    forged = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:XFD1048576"/>', sheet)
    assert forged != sheet
    path = tmp_path / "forged.xlsx"
    path.write_bytes(_rezip(book, replace={"xl/worksheets/sheet1.xml": forged}))
    raw = read_table(path)
    assert list(raw.frame.columns) == ["patient_id", "day", "phq9_total", "phq9_9"] and len(raw.frame) == 2


def test_xlsx_too_wide_row_is_refused_with_its_row(tmp_path):
    wide = SMALL.copy()
    wide.loc[1, "far"] = "x"
    frame = wide.reindex(columns=[*SMALL.columns, *[f"c{i}" for i in range(MAX_COLUMNS)], "far"])
    path = tmp_path / "wide.xlsx"
    frame.to_excel(path, index=False)
    with pytest.raises(UnreadableFileError, match=r"wide.xlsx: sheet 'Sheet1' row 1 has cells in 1,005 columns") as exc:
        read_table(path)
    assert exc.value.problems.iloc[0]["line"] == 1


# ----------------------------------------------------------------------------- XLSX: which sheet

def _book(tmp_path, *, hidden_active: bool, names=("Raw", "PHQ")) -> "Path":
    import openpyxl

    wb = openpyxl.Workbook()
    first = wb.active
    first.title = names[0]
    for row in [("patient_id", "day", "phq9_total", "phq9_9"), ("001", 0, 12, 1)]:
        first.append(row)
    second = wb.create_sheet(names[1])
    for row in [("patient_id", "day", "phq9_total", "phq9_9"), ("002", 0, 20, 2), ("002", 42, 4, 0)]:
        second.append(row)
    if hidden_active:
        first.sheet_state = "hidden"
        wb.active = 0
    path = tmp_path / "book.xlsx"
    wb.save(path)
    return path


def test_xlsx_reads_the_active_sheet_and_says_so(tmp_path):
    raw = read_table(_book(tmp_path, hidden_active=False))
    assert list(raw.frame["patient_id"]) == ["001"]
    assert raw.notes == ("sheet 'Raw' was read (the active sheet; 1 other sheet(s) not read)",)


def test_xlsx_never_reads_a_hidden_sheet_silently(tmp_path):
    raw = read_table(_book(tmp_path, hidden_active=True))
    assert list(raw.frame["patient_id"]) == ["002", "002"]
    note = raw.notes[0]
    assert note.startswith("sheet 'PHQ' was read (") and note.endswith("1 other sheet(s) not read, 1 of them hidden)")


def test_xlsx_sheet_named_by_the_mapping(tmp_path):
    path = _book(tmp_path, hidden_active=True)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\n"patient_id" = "patient_id"\n\n[workbook]\nsheet = "Raw"\n')
    raw = read_source(path, mapping=mapping)
    assert list(raw.frame["patient_id"]) == ["001"]
    assert "sheet 'Raw' was read (hidden, read because the mapping names it)" in raw.notes[0]
    mapping.write_text('[columns]\n"patient_id" = "patient_id"\n\n[workbook]\nsheet = "Nope"\n')
    with pytest.raises(UnreadableFileError, match="asks for sheet 'Nope', which is not in the workbook. Sheets: "
                                                  "'Raw', 'PHQ'"):
        read_source(path, mapping=mapping)


def test_sheet_note_is_kept_in_the_import_record(tmp_path):
    from analytics.store import import_questionnaires, list_imports

    db = tmp_path / "s.sqlite"
    import_questionnaires(read_table(_book(tmp_path, hidden_active=True)), db=db)
    assert "sheet 'PHQ' was read" in list_imports(db)["warning_summary"].iloc[0]


# ----------------------------------------------------------------------------- Parquet: the footer first

def test_parquet_declaring_far_more_rows_than_its_size_is_refused_from_the_footer(tmp_path, monkeypatch):
    n = 400_000
    table = pa.table({"patient_id": pa.array(np.full(n, "001", dtype=object)), "day": np.zeros(n, np.int32),
                      "phq9_total": np.full(n, 12, np.int32), "phq9_9": np.ones(n, np.int32)})
    path = tmp_path / "rle.parquet"
    pq.write_table(table, path)
    monkeypatch.setattr(loading, "PARQUET_EXPANSION_CHECKED_ABOVE", 1024 ** 2)
    with pytest.raises(UnreadableFileError, match=r"rle.parquet: the Parquet file declares 400,000 rows x 4 columns, "
                                                  r"about \d+ MB in memory from 0.0 MB on disk .*at most 200 to 1"):
        read_table(path)


def test_real_parquet_exports_are_within_the_expansion_limit(tmp_path, monkeypatch):
    frame = pd.read_csv(SAMPLE, dtype=str)
    frame.to_parquet(tmp_path / "s.parquet", index=False)
    monkeypatch.setattr(loading, "PARQUET_EXPANSION_CHECKED_ABOVE", 0)  # check even this small file
    assert len(read_table(tmp_path / "s.parquet").frame) == len(frame)


# ----------------------------------------------------------------------------- CSV: scanned before parsing

def test_one_line_of_commas_is_refused_with_its_line(tmp_path):
    path = tmp_path / "commas.csv"
    path.write_text(GOOD + "," * 200_000 + "\n")
    with pytest.raises(UnreadableFileError, match=r"commas.csv: line 4 has 200,001 cells; at most 1,000 columns") \
            as exc:
        read_table(path)
    assert exc.value.problems.iloc[0]["line"] == 4


def test_commas_without_any_line_break_are_refused(tmp_path):
    path = tmp_path / "oneline.csv"
    path.write_text("a," * 300_000)
    with pytest.raises(UnreadableFileError, match=r"oneline.csv: the file has (at least )?[\d,]+ columns; at most 1,000"):
        read_table(path)


def test_overlong_line_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "long.csv"
    path.write_text(GOOD + "001,7,9,0\n" + "x" * 5000 + "\n")
    with pytest.raises(UnreadableFileError, match=r"long.csv: line 5 is 0.0 MB long; lines up to 0 MB") as exc:
        read_table(path)
    assert exc.value.problems.iloc[0]["line"] == 5


def test_quoted_commas_are_not_separators(tmp_path):
    """1,000 columns whose headers and cells hold commas inside quotes: read, not refused as too wide."""
    headers = ["patient_id", "day", "phq9_total", "phq9_9"] + [f'"note, part {i}"' for i in range(MAX_COLUMNS - 4)]
    cells = ["001", "0", "12", "1"] + ['"a, b"'] * (MAX_COLUMNS - 4)
    path = tmp_path / "quoted.csv"
    path.write_text(",".join(headers) + "\n" + ",".join(cells) + "\n")
    raw = read_table(path)
    assert raw.frame.shape == (1, MAX_COLUMNS) and raw.headers["note, part 0"] == "note, part 0"


def test_classic_mac_line_endings_are_lines(tmp_path):
    rows = ["patient_id,day,phq9_total,phq9_9"] + [f"{i:04d},0,12,1" for i in range(2_000)]
    path = tmp_path / "mac.csv"
    path.write_bytes("\r".join(rows).encode() + b"\r")
    raw = read_table(path)
    assert len(raw.frame) == 2_000 and raw.lines[-1] == 2_001
    assert "classic Mac line endings" in raw.notes[0]


def test_truncated_utf16_is_a_message(tmp_path):
    path = tmp_path / "u16.csv"
    path.write_bytes(GOOD.encode("utf-16")[:-1])
    with pytest.raises(UnreadableFileError, match="u16.csv: the file is UTF-16 text but byte"):
        read_table(path)


# ----------------------------------------------------------------------------- not a regular file

def test_folder_is_not_a_file(tmp_path):
    (tmp_path / "export.csv").mkdir()
    with pytest.raises(UnreadableFileError, match="export.csv: this is a folder, not a file"):
        validate_questionnaires(tmp_path / "export.csv")
    with pytest.raises(UnreadableFileError, match="this is a folder"):
        read_source(tmp_path / "export.csv")
    (tmp_path / "bundle.json").mkdir()
    with pytest.raises(UnreadableFileError, match="bundle.json: this is a folder"):
        read_source(tmp_path / "bundle.json")


def test_dangling_link_names_its_target(tmp_path):
    link = tmp_path / "export.csv"
    link.symlink_to(tmp_path / "gone.csv")
    with pytest.raises(UnreadableFileError, match=r"export.csv: the file is a link to .*gone.csv, which does not exist"):
        validate_questionnaires(link)
    fhir = tmp_path / "export.ndjson"
    fhir.symlink_to(tmp_path / "gone.ndjson")
    with pytest.raises(UnreadableFileError, match="which does not exist"):
        read_source(fhir)


@pytest.mark.skipif(os.geteuid() == 0, reason="file permissions do not bind root")
def test_unreadable_file_says_permission_denied(tmp_path):
    path = tmp_path / "locked.csv"
    path.write_text(GOOD)
    path.chmod(0)
    with pytest.raises(UnreadableFileError, match="locked.csv: permission denied"):
        read_table(path)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 1 << 22])
def test_line_scan_is_the_same_whatever_the_chunk_size(monkeypatch, chunk):
    """The chunked scan against a plain per-line count: same line count, same first wide or long line."""
    monkeypatch.setattr(loading, "_SCAN_CHUNK", chunk)
    monkeypatch.setattr(loading, "MAX_COLUMNS", 4)
    monkeypatch.setattr(loading, "MAX_LINE_BYTES", 12)
    ok = b"a,b,c\n1,2,3\n\n4,5\n6,7,8,9"
    assert loading._scan_lines(ok, "f") == 4  # data lines: the header excluded
    for body, line, what in [(b"a,b\n1,2,3,4,5\n6\n", 2, "has 5 cells"), (b"a\nb\nc\n1,2,3,4,5,6", 4, "has 6 cells"),
                             (b"a\n" + b"x" * 13 + b"\n", 2, "MB long"), (b"a\nb\n" + b"y" * 40, 3, "MB long"),
                             (b"a,b\n1,2,3,4,5\n" + b"z" * 20 + b"\n", 2, "has 5 cells"),
                             (b"a,b\n" + b"z" * 20 + b"\n1,2,3,4,5\n", 2, "MB long"),
                             (b'a,b\n"1,2,3,4",5\n1,2,3,4,5,6\n', 3, "has 6 cells")]:  # quoted commas: not cells
        with pytest.raises(UnreadableFileError, match=what) as exc:
            loading._scan_lines(body, "f")
        assert exc.value.problems.iloc[0]["line"] == line, body


def test_carriage_return_inside_an_unquoted_cell_is_a_message(tmp_path):
    """Found by the random-shapes fuzz: a stray CR in a ragged line used to escape as a csv.Error."""
    path = tmp_path / "cr.csv"
    path.write_text("patient_id\n0,\r0\n")
    with pytest.raises(UnreadableFileError, match=r"cr.csv: line 2 has a line break \(carriage return\) inside a "
                                                  "cell that is not in quotes") as exc:
        validate_questionnaires(path)
    assert exc.value.problems.iloc[0]["line"] == 2
