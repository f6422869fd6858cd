import pytest

from backend.web.display import budget_label, data_used, first_line, percent, seconds, short_sha, status_counts


@pytest.mark.parametrize(
    ("fraction", "label"), [(0.1, "10 %"), (0.125, "12.5 %"), (0.01, "1 %"), (1.0, "100 %"), (0.333, "33.3 %")]
)
def test_budgets_read_as_short_percentages(fraction, label):
    assert budget_label(fraction) == label


def test_accuracies_read_as_percentages_with_one_decimal():
    assert percent(0.8125) == "81.2 %"
    assert percent(1.0) == "100.0 %"
    assert percent(None) == "—"


@pytest.mark.parametrize(
    ("fraction", "budget", "text", "off_budget"),
    [
        (0.1, 0.1, "10.0 %", False),
        (0.473, 0.1, "47.3 %", True),
        (0.094, 0.1, "9.4 %", True),
        # Half a percentage point either way is still the budget; floats hold 0.1 - 0.095 as a hair more.
        (0.105, 0.1, "10.5 %", False),
        (0.095, 0.1, "9.5 %", False),
        (0.106, 0.1, "10.6 %", True),
        (None, 0.1, "—", False),
    ],
)
def test_the_data_used_is_marked_when_it_strays_from_the_budget(fraction, budget, text, off_budget):
    shown = data_used(fraction, budget)

    assert (shown.text, shown.off_budget, shown.note) == (text, off_budget, "of a 10 % budget")


@pytest.mark.parametrize(
    ("value", "text"), [(None, "—"), (0.04, "0.0 s"), (12.34, "12.3 s"), (125, "2 min 05 s"), (7260, "2 h 01 min")]
)
def test_seconds_read_with_units(value, text):
    assert seconds(value) == text


def test_first_line_keeps_the_first_line_and_shortens_it():
    assert first_line("boom\nTraceback ...") == "boom"
    assert first_line("") == ""
    assert first_line("x" * 200, limit=10) == "x" * 9 + "…"


def test_short_sha_keeps_twelve_characters():
    assert short_sha("ab" * 32) == "abababababab"
    assert short_sha("") == "—"


def test_status_counts_list_every_status_in_a_fixed_order():
    counts = status_counts({"failed": 2, "queued": 1})

    assert [(count.status, count.count) for count in counts] == [
        ("queued", 1),
        ("running", 0),
        ("succeeded", 0),
        ("failed", 2),
        ("canceled", 0),
    ]
