"""The headline answer: the Kaplan-Meier figure first beside Oliver 2022, other counts as alternatives."""
from __future__ import annotations

import pytest

from analytics import OutcomeDefinitions, clinic_summary, load_questionnaires
from analytics.headline import author_year, headline_cards
from conftest import SAMPLE, TINY


@pytest.fixture(scope="module")
def sample():
    return load_questionnaires(SAMPLE)


def test_remission_card_reads_like_a_director_asks(sample):
    cards = {c.metric: c for c in headline_cards(sample)}
    s = clinic_summary(sample)
    rem = cards["remission"]
    assert rem.recommended.mode == "cumulative"
    assert (rem.recommended.n, rem.recommended.events) == (s.cumulative_remission.n, s.cumulative_remission.events)
    assert rem.title == "Remission by week 6"
    lo, hi = s.cumulative_remission.ci_low, s.cumulative_remission.ci_high
    assert rem.sentence == (f"Remission by week 6: {s.cumulative_remission.estimate:.1%} (95% CI {lo * 100:.1f}–"
                            f"{hi * 100:.1f}%) of {s.cumulative_remission.n} patients — published: 20% (Oliver 2022, "
                            "424 patients)")
    assert "oliver2022" not in rem.sentence
    # Oliver's remission definition is unconfirmed: not like for like, and the card says why
    assert not rem.published_comparable and "definition" in rem.published_reason
    assert cards["response"].published_comparable and cards["response"].published.startswith("50% (Oliver 2022")


@pytest.mark.parametrize("mode", ["completer", "itt", "locf"])
def test_alternatives_are_the_engine_snapshot_figures(sample, mode):
    cards = {c.metric: c for c in headline_cards(sample)}
    s = clinic_summary(sample, definitions=OutcomeDefinitions(analysis=mode))
    for metric, expected in (("response", s.response), ("remission", s.remission)):
        alt = next(a for a in cards[metric].alternatives if a.mode == mode)
        assert (alt.n, alt.events, alt.estimate) == (expected.n, expected.events, expected.estimate)
        assert alt.explanation and alt.label


def test_si_card_uses_the_chosen_mode_and_says_the_published_method_is_unknown(sample):
    cards = {c.metric: c for c in headline_cards(sample, definitions=OutcomeDefinitions(analysis="itt"))}
    si = cards["si_resolution"]
    s = clinic_summary(sample, definitions=OutcomeDefinitions(analysis="itt"))
    assert si.recommended.mode == "itt" and si.recommended.n == s.si_resolution.n
    assert "not stated" in si.why_recommended and "denominator is not published" in si.published
    assert {a.mode for a in si.alternatives} == {"completer", "locf"}


def test_no_data_is_never_zero_percent():
    tiny = load_questionnaires(TINY)
    cards = headline_cards(tiny, definitions=OutcomeDefinitions(min_baseline=27))
    for card in cards[:2]:
        assert card.recommended.n == 0 and "no data" in card.sentence and "0.0%" not in card.sentence


def test_a_stratum_is_not_like_for_like(sample):
    north = sample[sample["site"] == "North"]
    cards = headline_cards(north, stratum=("site", "North"))
    assert not any(c.published_comparable for c in cards)


@pytest.mark.parametrize("citation, text", [
    ("Oliver PA, Snyder AD, Feinn R. J Clin Psychiatry 2022;83(6):21m14336", "Oliver 2022"),
    ("McInnes LA, Qian JJ. J Affect Disord 2022 (doi 10.1016/j.jad.2021.12.097)", "McInnes 2022"),
    ("Alnefeesi Y, et al. J Psychiatr Res 2022;151:693-709", "Alnefeesi 2022"),
    ("Chart review of twice-weekly IV ketamine for TRD. J Affect Disord 2020, PMID 32871698",
     "Chart review of twice-weekly IV ketamine for TRD (2020)"),
])
def test_author_year(citation, text):
    assert author_year(citation) == text


@pytest.mark.parametrize("mode", ["completer", "itt", "locf"])
def test_cards_from_precomputed_outcomes_are_the_same(sample, mode):
    # the dashboard passes each mode's outcome table, computed once and cached; the cards must not change
    from dataclasses import replace

    from analytics import patient_outcomes
    d = OutcomeDefinitions(analysis=mode, week=4)
    given = {m: patient_outcomes(sample, definitions=replace(d, analysis=m)) for m in ("completer", "itt", "locf")}
    assert headline_cards(sample, definitions=d, outcomes=given) == headline_cards(sample, definitions=d)
    # a mode left out is computed: the same cards again
    only = {mode: given[mode]}
    assert headline_cards(sample, definitions=d, outcomes=only, stratum=("site", "North")) == \
        headline_cards(sample, definitions=d, stratum=("site", "North"))
