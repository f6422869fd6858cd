"""The generated policy form in a real browser: choose a strategy, see its fields, fix a refused value."""

import pytest
from playwright.sync_api import expect

from backend.policies.models import SamplingPolicy

pytestmark = pytest.mark.browser

FORM = "#new-policy"


def fieldset(page, strategy: str):
    return page.locator(f"{FORM} fieldset[data-strategy={strategy}]")


def test_a_bad_value_is_shown_at_its_field_and_a_good_one_creates_the_policy(page, log_in, editor, team):
    log_in(editor)
    page.goto("/teams/vision/policies/")
    expect(fieldset(page, "ccs")).to_be_hidden()

    page.select_option(f"{FORM} select[name=strategy]", "ccs")
    expect(fieldset(page, "ccs")).to_be_visible()
    expect(fieldset(page, "el2n")).to_be_hidden()
    page.fill(f"{FORM} input[name=name]", "Gentle CCS")
    page.fill("input[name=ccs-hard_cutoff]", "0.95")
    page.click(f"{FORM} button:has-text('Create policy')")

    error = fieldset(page, "ccs").locator('[data-field="params.hard_cutoff"] .error')
    expect(error).to_have_text("Must be at most 0.9")
    expect(page.locator(f"{FORM} input[name=name]")).to_have_value("Gentle CCS")
    assert not SamplingPolicy.objects.filter(team=team).exists()

    page.fill("input[name=ccs-hard_cutoff]", "0.2")
    page.click(f"{FORM} button:has-text('Create policy')")

    expect(page.locator(".messages")).to_contain_text("Created Gentle CCS.")
    expect(page.locator('tr[data-policy="Gentle CCS"]')).to_contain_text("hard_cutoff = 0.2")
    assert SamplingPolicy.objects.get(team=team, name="Gentle CCS").params["hard_cutoff"] == 0.2


def test_the_catalogue_leads_to_a_form_for_its_strategy(page, log_in, editor, team):
    log_in(editor)
    page.goto("/strategies/")
    page.click("article[data-strategy=infobatch] a:has-text('New Vision policy')")

    expect(page.locator(f"{FORM} select[name=strategy]")).to_have_value("infobatch")
    expect(fieldset(page, "infobatch").locator("input[name=infobatch-anneal]")).to_have_value("0.125")


@pytest.mark.parametrize("url", ["/teams/vision/policies/", "/strategies/"])
def test_the_policy_pages_fit_a_phone(url, page, log_in, editor, team):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(editor)
    page.goto(url)

    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
