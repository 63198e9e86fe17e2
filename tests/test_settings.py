"""Clinic settings: the clinic's name saved, read back, refused when unusable; the CLI's --clinic-name and the
saved setting reach the report."""
from __future__ import annotations

import pytest

from analytics.definitions import DEFAULT_CLINIC_NAME, MAX_CLINIC_NAME_CHARS
from analytics.errors import SettingsError
from analytics.settings import ClinicSettings, default_settings_path, load_settings, save_settings
from cli_runner import run_cli
from conftest import SAMPLE


@pytest.fixture(autouse=True)
def settings_file(monkeypatch, tmp_path):
    path = tmp_path / "conf" / "settings.toml"
    monkeypatch.setenv("OUTCOMES_SETTINGS", str(path))
    monkeypatch.setenv("OUTCOMES_DB", str(tmp_path / "store.sqlite"))
    return path


def test_missing_file_gives_the_neutral_default(settings_file):
    assert default_settings_path() == settings_file and not settings_file.exists()
    assert load_settings() == ClinicSettings(clinic_name=DEFAULT_CLINIC_NAME) and DEFAULT_CLINIC_NAME == "Our clinic"


@pytest.mark.parametrize("name", ['Clínica "Río" \\ Norte', "St. Mary's — Ketamine & TMS", "診療所", "=cmd|' /C calc'!A0"])
def test_round_trip(settings_file, name):
    save_settings(ClinicSettings(clinic_name=f"  {name}  "))
    assert load_settings().clinic_name == name  # trimmed, otherwise exactly as typed
    assert load_settings(settings_file).clinic_name == name


@pytest.mark.parametrize("bad, says", [("", "empty"), ("   ", "empty"), ("x" * (MAX_CLINIC_NAME_CHARS + 1), "at most"),
                                       ("North\x07Clinic", "control"), ("A\u202eB", "invisible")])
def test_unusable_names_are_refused_and_nothing_is_written(settings_file, bad, says):
    with pytest.raises(SettingsError, match=says):
        save_settings(ClinicSettings(clinic_name=bad))
    assert not settings_file.exists()


def test_a_broken_file_names_itself_and_the_line(settings_file):
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text('# ok\nclinic_name = "unterminated\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"settings.toml: the settings file is not valid TOML .*line 2"):
        load_settings()
    settings_file.write_text('clinic_name = 3\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="must be text in quotes"):
        load_settings()
    settings_file.write_text('clinic = "x"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings()


def test_cli_uses_the_option_then_the_saved_name(settings_file, tmp_path):
    out = run_cli("export", "--quarter", "2025Q4", SAMPLE, "--out", tmp_path / "a", "--format", "html",
                  "--clinic-name", "Harbour <Clinic>")
    assert out.returncode == 0, out.stderr
    assert "<h1>Harbour &lt;Clinic&gt;</h1>" in (tmp_path / "a" / "2025Q4" / "report_2025Q4.html").read_text()
    save_settings(ClinicSettings(clinic_name="Saved Clinic"))
    out = run_cli("export", "--quarter", "2025Q4", SAMPLE, "--out", tmp_path / "b", "--format", "html")
    assert out.returncode == 0, out.stderr
    assert "<h1>Saved Clinic</h1>" in (tmp_path / "b" / "2025Q4" / "report_2025Q4.html").read_text()
    bad = run_cli("export", "--quarter", "2025Q4", SAMPLE, "--out", tmp_path / "c", "--clinic-name", " ")
    assert bad.returncode == 1 and "the clinic's name is empty" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "c").exists()


def test_cli_pdf_without_a_browser_says_so(settings_file, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("OUTCOMES_CHROMIUM", raising=False)
    out = run_cli("export", "--quarter", "2025Q4", SAMPLE, "--out", tmp_path / "d", "--format", "html,pdf")
    assert out.returncode == 1 and "the PDF cannot be made on this machine" in out.stderr
    assert "chromium" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "d" / "2025Q4").exists()  # refused before any file was written
