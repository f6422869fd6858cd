"""Every strategy's paper agrees with the citation in its sampler's docstring."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

from workers.engine.strategies.registry import CONTROL_STRATEGIES, STRATEGIES

CONTROLS = {strategy.key for strategy in CONTROL_STRATEGIES}
CITING = [key for key in STRATEGIES if key not in CONTROLS]


def flat(text: str) -> str:
    """Docstrings wrap their citations; compare with the line breaks as spaces."""
    return re.sub(r"\s+", " ", text)


def first_author(authors: str) -> str:
    return re.split(r",| & | et al\.", authors)[0].strip()


@pytest.mark.parametrize("key", CITING)
def test_every_cited_strategy_has_its_docstrings_paper(key):
    strategy = STRATEGIES[key]
    docstring = flat(inspect.getdoc(strategy.sampler_class()))

    assert strategy.paper is not None, f"{key} cites no paper"
    assert str(strategy.paper.year) in docstring
    assert strategy.paper.title in docstring
    assert first_author(strategy.paper.authors) in docstring


@pytest.mark.parametrize("key", ["full", "full_short"])
def test_full_data_controls_cite_nothing(key):
    assert STRATEGIES[key].paper is None


@pytest.mark.parametrize("key", ["random_static", "rs2_without_replacement", "rs2_with_replacement"])
def test_the_random_controls_cite_the_rs2_paper_as_their_module_does(key):
    strategy = STRATEGIES[key]
    module_docstring = inspect.getdoc(importlib.import_module(strategy.sampler_class().__module__))

    assert strategy.paper == STRATEGIES["score_resampling"].paper
    assert (strategy.paper.authors, strategy.paper.year) == ("Okanovic et al.", 2024)
    assert "Okanovic et al., ICLR 2024" in module_docstring


def test_a_description_that_cites_a_year_cites_its_papers():
    for strategy in STRATEGIES.values():
        for year in re.findall(r"\b(?:19|20)\d\d\b", strategy.description):
            assert int(year) == strategy.paper.year, strategy.key


def test_every_link_is_an_https_page_of_an_archive_or_proceedings():
    links = {strategy.paper.url for strategy in STRATEGIES.values() if strategy.paper and strategy.paper.url}

    assert links
    for link in links:
        assert re.fullmatch(r"https://(arxiv\.org/abs/\d{4}\.\d{5}|openreview\.net/forum\?id=\w+)", link), link


def test_the_description_of_a_strategy_carries_its_paper():
    described = STRATEGIES["el2n"].describe()

    assert described["paper"] == {
        "title": "Deep Learning on a Data Diet: Finding Important Examples Early in Training",
        "authors": "Paul, Ganguli & Dziugaite",
        "year": 2021,
        "url": "https://arxiv.org/abs/2107.07075",
    }
    assert STRATEGIES["full"].describe()["paper"] is None
