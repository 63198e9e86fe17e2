"""Uploaded file names are labels, never paths: the class of hostile names, at the function level and through
the Data page (AppTest)."""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics import UnreadableFileError
from analytics.definitions import MAX_UPLOAD_LABEL_CHARS
from analytics.store import list_imports
from analytics.uploads import upload_label, upload_suffix, write_upload
from conftest import ROOT, TINY

DATA = ["csv", "xlsx", "parquet", "json", "ndjson"]

HOSTILE = {
    "../x.csv": "x.csv",
    "../../.streamlit/config.toml": "config.toml",
    "/etc/passwd.csv": "passwd.csv",
    "C:\\Users\\me\\clinic.csv": "clinic.csv",
    "..\\..\\evil.csv": "evil.csv",
    "a\x00b.csv": "ab.csv",
    "line\nbreak\r.csv": "linebreak.csv",
    "\u202eCSV.exe.csv": "CSV.exe.csv",  # right-to-left override
    "..": "upload",
    "...": "upload",
    ".": "upload",
    "": "upload",
    "/": "upload",
    "   clinic  export .csv ": "clinic export .csv",
}


@pytest.mark.parametrize("name, label", HOSTILE.items())
def test_label_keeps_only_a_clean_last_part(name, label):
    assert upload_label(name) == label


def test_label_is_bounded_and_keeps_its_extension():
    label = upload_label("x" * 10_000 + ".csv")
    assert len(label) <= MAX_UPLOAD_LABEL_CHARS and label.endswith("….csv")
    assert len(upload_label("y" * 10_000)) <= MAX_UPLOAD_LABEL_CHARS


@pytest.mark.parametrize("name", ["x.exe", "x.csv.exe", "x", "..", "x.toml", "x.csv\x00.sh", "../x.py"])
def test_suffix_must_be_allowed(name):
    with pytest.raises(UnreadableFileError, match="are not read here; upload a .csv"):
        upload_suffix(name, DATA)


@pytest.mark.parametrize("name", [*HOSTILE, "x" * 5_000 + ".csv", "a/" * 2_000 + "b.csv"])
def test_written_files_stay_in_their_folder_and_are_named_by_the_tool(tmp_path, name):
    folder = tmp_path / "uploads"
    folder.mkdir()
    try:
        path = write_upload(b"patient_id\n1\n", name, directory=folder, allowed=DATA + ["toml"])
    except UnreadableFileError:  # no allowed extension: nothing written anywhere
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
        return
    assert path.parent == folder and path.name.startswith("upload-") and len(path.name) < 40
    assert path.read_bytes() == b"patient_id\n1\n"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_same_name_twice_gives_two_files(tmp_path):
    a = write_upload(b"a", "x.csv", directory=tmp_path, allowed=DATA)
    b = write_upload(b"b", "x.csv", directory=tmp_path, allowed=DATA)
    assert a != b and a.read_bytes() == b"a" and b.read_bytes() == b"b"


# ----------------------------------------------------------------------------- through the Data page

def _upload(monkeypatch, tmp_path, data_name, mapping_name=None, mapping=b""):
    db = tmp_path / "clinic.sqlite"
    monkeypatch.setenv("OUTCOMES_DB", str(db))
    monkeypatch.delenv("OUTCOMES_DATA", raising=False)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.run()
    at.switch_page("app_pages/data.py").run()
    uploaders = {u.label: u for u in at.file_uploader}
    uploaders["Questionnaire export"].set_value((data_name, TINY.read_bytes(), "text/csv"))
    at.run()
    if mapping_name is not None:  # offered on the mapping screen, once the export is chosen
        uploaders = {u.label: u for u in at.file_uploader}
        uploaders["Column mapping (optional, TOML)"].set_value((mapping_name, mapping, "application/toml"))
        at.run()
    at.button(key="do_import").click().run()
    return at, db


def test_data_page_import_with_a_traversal_name_writes_nothing_outside(monkeypatch, tmp_path):
    marker = f"uploads-test-{uuid.uuid4().hex}"
    escape = Path(tempfile.gettempdir()) / f"{marker}.csv"
    at, db = _upload(monkeypatch, tmp_path, f"../{marker}.csv")
    assert not at.exception, at.exception
    assert not escape.exists()
    history = list_imports(db)
    assert list(history["file_name"]) == [f"{marker}.csv"]  # the label, cleaned


def test_data_page_mapping_with_an_absolute_name_writes_nothing_there(monkeypatch, tmp_path):
    target = tmp_path / "elsewhere" / "config.toml"
    target.parent.mkdir()
    mapping = b'[columns]\n"patient_id" = "patient_id"\n'
    at, db = _upload(monkeypatch, tmp_path, "..\\..\\clinic.csv", mapping_name=str(target), mapping=mapping)
    assert not at.exception, at.exception
    assert not target.exists() and os.listdir(target.parent) == []
    assert list(list_imports(db)["file_name"]) == ["clinic.csv"]
