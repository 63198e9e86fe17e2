"""Formula neutralisation in CSV exports."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from analytics.exports import neutralise_formulas, to_safe_csv


def test_hostile_text_is_neutralised_numbers_stay():
    frame = pd.DataFrame({
        "site": ["=HYPERLINK(\"http://x\")", "+1", "-cmd", "@SUM(A1)", "\tx", "\rx", "North", None],
        "rate": [-0.5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
        "n": [1, 2, 3, 4, 5, 6, 7, 8],
    })
    out = neutralise_formulas(frame)
    assert out["site"].tolist()[:7] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-cmd", "'@SUM(A1)", "'\tx", "'\rx", "North"]
    assert pd.isna(out["site"].iloc[7])
    assert out["rate"].tolist() == frame["rate"].tolist()  # negative numbers stay numbers
    back = pd.read_csv(io.BytesIO(to_safe_csv(frame)), encoding="utf-8-sig")
    assert back["rate"].iloc[0] == -0.5 and back["site"].iloc[0].startswith("'=")


def test_header_is_neutralised():
    assert list(neutralise_formulas(pd.DataFrame({"=x": [1]})).columns) == ["'=x"]


def test_numbers_in_mixed_columns_stay_numbers():
    frame = pd.DataFrame({"difference": pd.Series([-0.25, "suppressed", "=bad", 0.1], dtype=object)})
    out = neutralise_formulas(frame)["difference"].tolist()
    assert out == [-0.25, "suppressed", "'=bad", 0.1]


# every way a cell can start a formula, ASCII and full-width, after spaces or control characters
HOSTILE = ["=1+1", "+1", "-1+1", "@SUM(A1)", "|calc", "\uff1d1+1", "\uff0bcmd", "\uff0dcmd", "\uff20SUM(A1)",
           "\uff5ccalc", "\tx", "\rx", "\n=1", " =1+1", "  @x", "\u3000\uff1d1"]
HARMLESS = ["North", "1", "0.5", "a=b", "x|y", "e-mail", "(not recorded)", "<11", "suppressed", ""]


@pytest.mark.parametrize("text", HOSTILE)
def test_every_formula_start_is_neutralised(text):
    frame = pd.DataFrame({"site": [text, "North"], "n": [1, 2], "rate": [-0.5, 0.25],
                          "mixed": pd.Series([-3, text], dtype=object)})
    out = neutralise_formulas(frame)
    assert out["site"].tolist() == ["'" + text, "North"]
    assert out["mixed"].tolist() == [-3, "'" + text]  # the number stays a number
    assert out["n"].tolist() == [1, 2] and out["rate"].tolist() == [-0.5, 0.25]
    assert list(neutralise_formulas(pd.DataFrame({text: [1]})).columns) == ["'" + text]
    back = pd.read_csv(io.BytesIO(to_safe_csv(frame)), encoding="utf-8-sig", keep_default_na=False)
    assert back["rate"].tolist() == [-0.5, 0.25] and back["site"].iloc[0].startswith("'")


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_text_is_left_alone(text):
    frame = pd.DataFrame({"site": [text]})
    assert neutralise_formulas(frame)["site"].tolist() == [text]
