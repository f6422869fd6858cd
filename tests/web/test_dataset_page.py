"""A dataset's page: who may open it, what it shows of the dataset, and deleting it."""

import csv
import io

import pytest
from django.urls import reverse
from PIL import Image

from backend.datasets import previews
from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
from backend.experiments.services import experiment_create
from tests.web.dataset_arrays import CLASS_NAMES, COLOURS, TEST_COUNTS, TRAIN_COUNTS, image_arrays, store_dataset


def page_url(dataset):
    return reverse("dataset_detail", args=[dataset.pk])


def samples_url(dataset, class_index):
    return reverse("dataset_samples", args=[dataset.pk, class_index])


def delete_url(dataset):
    return reverse("dataset_delete", args=[dataset.pk])


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.SAMPLEWISE_DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def pets(data_dir, team, owner):
    """Three classes of flat-coloured 4 × 4 RGB images: 12, 3 and 1 for training, 2, 1 and 4 for testing."""
    return store_dataset(data_dir, team, owner, image_arrays())


@pytest.fixture
def used(team, owner, dataset, builtin_policies):
    """The (features) dataset, used by one experiment."""
    return experiment_create(
        team=team,
        user=owner,
        name="Digits under budgets",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 2},
        policies=[builtin_policies["random_static"]],
        budgets=[0.1],
        seeds=[0],
    )


def png(response) -> Image.Image:
    assert response["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(b"".join(response.streaming_content))).convert("RGB")


@pytest.mark.parametrize("member", ["owner", "editor", "viewer"])
def test_every_member_opens_the_page(client_as, request, member, pets):
    response = client_as(request.getfixturevalue(member)).get(page_url(pets))

    assert response.status_code == 200
    assert "<h1>pets " in response.content.decode()


def test_an_outsider_gets_404_for_the_page_its_examples_and_its_chart(client_as, outsider, other_team, pets):
    client = client_as(outsider)

    assert client.get(page_url(pets)).status_code == 404
    assert client.get(samples_url(pets, 0)).status_code == 404
    assert client.get(reverse("dataset_class_counts_plot", args=[pets.pk, "json"])).status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(client_as, pets):
    response = client_as(None).get(page_url(pets))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_an_unknown_dataset_gets_404(client_as, owner, team):
    assert client_as(owner).get(reverse("dataset_detail", args=[999_999])).status_code == 404


@pytest.mark.parametrize(("member", "offered"), [("owner", True), ("editor", True), ("viewer", False)])
def test_only_editors_and_owners_are_offered_delete(client_as, request, member, offered, pets):
    html = client_as(request.getfixturevalue(member)).get(page_url(pets)).content.decode()

    assert (f'href="{delete_url(pets)}"' in html) is offered


def test_the_teams_list_links_each_dataset_to_its_page(client_as, viewer, pets):
    html = client_as(viewer).get(reverse("team_datasets", args=["vision"])).content.decode()

    assert f'<a href="{page_url(pets)}"><strong>pets</strong></a>' in html


def test_it_shows_the_input_kind_shape_sizes_and_checksum(client_as, viewer, pets):
    html = client_as(viewer).get(page_url(pets)).content.decode()

    assert '<dd data-fact="input-kind">Images</dd>' in html
    assert '<dd class="mono" data-fact="input-shape">3 × 4 × 4</dd>' in html
    assert f'<dd data-fact="train-size">{sum(TRAIN_COUNTS)}</dd>' in html
    assert f'<dd data-fact="test-size">{sum(TEST_COUNTS)}</dd>' in html
    assert f'<dd class="mono" data-fact="sha256">{pets.sha256}</dd>' in html


def test_it_lists_every_class_with_its_training_and_test_counts(client_as, viewer, pets):
    response = client_as(viewer).get(page_url(pets))

    rows = [(row["name"], row["train_count"], row["preview"].test_count) for row in response.context["class_rows"]]
    assert rows == list(zip(CLASS_NAMES, TRAIN_COUNTS, TEST_COUNTS, strict=True))
    html = response.content.decode()
    assert '<th scope="row">dog</th>\n          <td class="num" data-train-count>3</td>' in html
    assert '<td class="num" data-test-count>4</td>' in html


def test_the_class_counts_chart_draws_the_training_counts_in_class_order(client_as, viewer, pets):
    response = client_as(viewer).get(reverse("dataset_class_counts_plot", args=[pets.pk, "json"]))

    spec = response.json()
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["x"]["sort"] == CLASS_NAMES
    values = [(row["class"], row["training_examples"]) for row in spec["data"]["values"]]
    assert values == list(zip(CLASS_NAMES, TRAIN_COUNTS, strict=True))
    # The page embeds it from that address.
    assert f'data-vega-spec="{response.request["PATH_INFO"]}"' in client_as(viewer).get(page_url(pets)).content.decode()


def test_the_class_counts_download_as_csv_and_png(client_as, viewer, pets):
    client = client_as(viewer)

    text = client.get(reverse("dataset_class_counts_plot", args=[pets.pk, "csv"])).content.decode()
    image = client.get(reverse("dataset_class_counts_plot", args=[pets.pk, "png"]))

    rows = [(row["class"], int(row["training_examples"])) for row in csv.DictReader(io.StringIO(text))]
    assert rows == list(zip(CLASS_NAMES, TRAIN_COUNTS, strict=True))
    assert image["Content-Type"] == "image/png" and image.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_each_class_shows_a_strip_of_its_own_training_images(client_as, viewer, pets):
    client = client_as(viewer)
    html = client.get(page_url(pets)).content.decode()

    for index, name in enumerate(CLASS_NAMES):
        assert f'src="{samples_url(pets, index)}" alt="Examples of class {name}"' in html
        strip = png(client.get(samples_url(pets, index)))
        cells = min(TRAIN_COUNTS[index], previews.EXAMPLES_PER_CLASS)
        # 4-pixel images enlarged 16 times fill the 64-pixel box; a gap between cells.
        assert strip.size == (cells * 64 + (cells - 1) * previews.GAP_PIXELS, 64)
        centres = [strip.getpixel((cell * (64 + previews.GAP_PIXELS) + 32, 32)) for cell in range(cells)]
        assert centres == [COLOURS[index]] * cells


def test_a_second_view_draws_nothing_again(client_as, viewer, pets, data_dir, monkeypatch):
    loads = []
    load = previews.load_dataset
    monkeypatch.setattr(previews, "load_dataset", lambda *args: loads.append(args) or load(*args))
    client = client_as(viewer)

    client.get(page_url(pets))
    for index in range(len(CLASS_NAMES)):
        png(client.get(samples_url(pets, index)))
    client.get(page_url(pets))

    assert len(loads) == 1
    assert sorted(path.name for path in previews.preview_dir(pets.sha256, data_dir).iterdir()) == [
        "class-0.png",
        "class-1.png",
        "class-2.png",
        "manifest.json",
    ]


def test_an_example_strip_is_drawn_even_if_the_page_was_never_opened(client_as, viewer, pets):
    strip = png(client_as(viewer).get(samples_url(pets, 2)))

    assert strip.getpixel((32, 32)) == COLOURS[2]


def test_a_class_past_the_last_gets_404(client_as, viewer, pets):
    assert client_as(viewer).get(samples_url(pets, len(CLASS_NAMES))).status_code == 404


def test_missing_stored_arrays_leave_the_counts_and_say_why_there_are_no_examples(client_as, viewer, dataset):
    client = client_as(viewer)
    response = client.get(page_url(dataset))

    html = response.content.decode()
    assert response.status_code == 200
    assert "The stored arrays of this dataset cannot be read, so no examples can be shown." in html
    assert [row["train_count"] for row in response.context["class_rows"]] == dataset.class_counts
    assert "example-strip" not in html
    assert client.get(samples_url(dataset, 0)).status_code == 404


@pytest.mark.parametrize(
    ("status", "error"), [(DatasetStatus.PENDING, ""), (DatasetStatus.FAILED, "train/: no class folders found")]
)
def test_a_dataset_not_ready_shows_its_status_and_error_instead_of_its_examples(client_as, viewer, team, status, error):
    dataset = Dataset.objects.create(
        team=team, name="incoming", format=DatasetFormat.IMAGE_FOLDER, source="in.zip", status=status, error=error
    )
    client = client_as(viewer)

    html = client.get(page_url(dataset)).content.decode()

    assert f'data-dataset-status="{status}"' in html
    assert 'id="class-counts"' not in html and 'id="examples"' not in html
    assert ('<pre class="error-tail mono" data-dataset-error>train/: no class folders found</pre>' in html) is bool(
        error
    )
    assert client.get(samples_url(dataset, 0)).status_code == 404


def test_it_links_the_experiments_that_use_it(client_as, viewer, dataset, used):
    html = client_as(viewer).get(page_url(dataset)).content.decode()

    assert f'<a href="{reverse("experiment_detail", args=[used.pk])}"><strong>Digits under budgets</strong></a>' in html


def test_an_unused_dataset_says_no_experiment_uses_it(client_as, viewer, pets):
    assert "No experiment uses this dataset yet." in client_as(viewer).get(page_url(pets)).content.decode()


def test_delete_asks_for_confirmation_first(client_as, editor, pets):
    response = client_as(editor).get(delete_url(pets))

    html = response.content.decode()
    assert response.status_code == 200
    assert f'<form method="post" action="{delete_url(pets)}"' in html and 'data-action="confirm-delete"' in html
    assert Dataset.objects.filter(pk=pets.pk).exists()


def test_a_confirmed_delete_removes_the_dataset_and_says_so(client_as, editor, pets):
    response = client_as(editor).post(delete_url(pets), follow=True)

    assert response.redirect_chain == [(reverse("team_datasets", args=["vision"]), 302)]
    assert "Deleted the dataset pets." in response.content.decode()
    assert not Dataset.objects.filter(pk=pets.pk).exists()


def test_delete_is_refused_with_a_clear_message_while_an_experiment_uses_it(client_as, owner, dataset, used):
    client = client_as(owner)

    response = client.post(delete_url(dataset))

    html = response.content.decode()
    assert response.status_code == 409
    assert "Dataset &#x27;tiny-digits&#x27; cannot be deleted while experiments use it." in html
    assert f'href="{reverse("experiment_detail", args=[used.pk])}"' in html
    assert 'data-action="confirm-delete"' not in html
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_the_confirmation_page_of_a_used_dataset_offers_no_delete(client_as, owner, dataset, used):
    html = client_as(owner).get(delete_url(dataset)).content.decode()

    assert "It cannot be deleted while experiments use it" in html
    assert f'action="{delete_url(dataset)}"' not in html and 'data-action="confirm-delete"' not in html


def test_a_viewer_can_neither_open_nor_submit_the_delete(client_as, viewer, pets):
    client = client_as(viewer)

    assert client.get(delete_url(pets)).status_code == 403
    assert client.post(delete_url(pets)).status_code == 403
    assert Dataset.objects.filter(pk=pets.pk).exists()


def test_an_outsider_or_anonymous_visitor_cannot_delete(client_as, outsider, other_team, pets):
    assert client_as(outsider).post(delete_url(pets)).status_code == 404
    anonymous = client_as(None).post(delete_url(pets))

    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    assert Dataset.objects.filter(pk=pets.pk).exists()
