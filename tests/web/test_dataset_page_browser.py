"""A dataset's page in a real browser: from the team's list to its counts chart and example strips."""

import pytest
from playwright.sync_api import expect

from tests.web.dataset_arrays import CLASS_NAMES, TRAIN_COUNTS, image_arrays, store_dataset

pytestmark = pytest.mark.browser


@pytest.fixture
def pets(settings, tmp_path, team, owner):
    settings.SAMPLEWISE_DATA_DIR = tmp_path
    return store_dataset(tmp_path, team, owner, image_arrays())


def test_the_page_draws_the_class_counts_and_loads_every_example_strip(page, log_in, viewer, pets, screenshot_dir):
    log_in(viewer)
    page.goto("/teams/vision/datasets/")

    page.get_by_role("link", name="pets").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("pets")
    chart = page.locator("#class-counts [data-vega-spec]")
    expect(chart).to_have_attribute("data-vega-drawn", f"{chart.get_attribute('data-vega-spec')}#{pets.sha256}")
    bars = chart.locator("svg [aria-roledescription='bar']")
    expect(bars).to_have_count(len(CLASS_NAMES))
    # Each bar's hover text names its class and count, in the dataset's class order.
    labels = [bars.nth(index).get_attribute("aria-label") for index in range(len(CLASS_NAMES))]
    for label, name, count in zip(labels, CLASS_NAMES, TRAIN_COUNTS, strict=True):
        assert f"class: {name}" in label and f"training examples: {count}" in label
    strips = page.locator("img.example-strip")
    expect(strips).to_have_count(len(CLASS_NAMES))
    for index in range(len(CLASS_NAMES)):
        strip = strips.nth(index)
        strip.scroll_into_view_if_needed()
        page.wait_for_function("image => image.complete", arg=strip.element_handle())
        assert strip.evaluate("image => image.naturalWidth") > 0
    page.screenshot(path=str(screenshot_dir / "dataset-page.png"), full_page=True)
