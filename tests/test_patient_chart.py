"""The Patient page's chart specifications: valid plotly, the same layout make_subplots would give, every mark."""
from __future__ import annotations

from dataclasses import replace

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from analytics import OutcomeDefinitions, load_questionnaires, patient_outcomes
from analytics.episodes import episode_axis_offsets
from analytics.instruments import PHQ9
from app_pages.patient_chart import answers_spec, course_spec, subplot_domains
from conftest import SAMPLE

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


@pytest.mark.parametrize("heights", [[0.6, 0.2, 0.2], [0.72, 0.28]])
def test_domains_match_make_subplots(heights):
    fig = make_subplots(rows=len(heights), cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=heights)
    expected = [v for i in range(1, len(heights) + 1) for v in fig.layout[f"yaxis{'' if i == 1 else i}"].domain]
    assert [v for pair in subplot_domains(heights) for v in pair] == pytest.approx(expected)


def one_patient(episodes: int):
    sample = load_questionnaires(SAMPLE)
    counts = sample.groupby("patient_id", observed=True)["episode"].max()
    pid = counts[counts == episodes].index[0]
    q = sample[sample["patient_id"] == pid].sort_values(["episode", "day"])
    courses = patient_outcomes(q, definitions=replace(OutcomeDefinitions(), episodes="all"))
    return q, courses.assign(start_on_axis=episode_axis_offsets(courses))


@pytest.mark.parametrize("episodes", [1, 2])
def test_course_spec_is_valid_plotly_with_every_mark(episodes):
    q, courses = one_patient(episodes)
    spec = course_spec(q, courses, target_label="week 6", window=(35, 49), palette=PALETTE)
    fig = go.Figure(spec)  # validates every property: a misspelt one raises here
    n = len(courses)
    bands = len(PHQ9.bands)
    # severity bands, per episode a start line and two windows, the remission line
    assert len(fig.layout.shapes) == bands + 3 * n + 1
    texts = [a.text for a in fig.layout.annotations]
    assert texts[:bands] == [label for _, label in PHQ9.bands]
    assert texts.count("baseline") == n and texts.count("week 6") == n and texts[-1] == "remission (< 5)"
    assert [f"episode {e} start" for e in courses["episode"]] == [t for t in texts if t.endswith(" start")]
    phq = [t for t in fig.data if t.name == "PHQ-9 total"]
    complete = q[q["complete"]]
    assert sum(len(t.y) for t in phq) == len(complete)
    assert [t.name for t in fig.data if t.type == "bar"] == ["Item 9 (SI)"]
    bar = next(t for t in fig.data if t.type == "bar")
    assert list(bar.y) == [int(v) for v in complete["phq9_9"]] and bar.yaxis == "y2"
    assert fig.layout.yaxis.range == (0, 27.5)


def test_answers_spec_is_valid_plotly():
    q, _ = one_patient(1)
    fig = go.Figure(answers_spec(q))
    assert list(fig.data[0].z[8]) == [None if v != v else float(v) for v in q["phq9_9"].astype("float64")]
    assert answers_spec(q.drop(columns=PHQ9.items)) is None
