"""Downloads: streamed to disk, bounded, verified, retried, and leaving nothing behind when they fail.

Every test runs against a loopback HTTP server in a thread; nothing leaves this machine.
"""

from __future__ import annotations

import hashlib
import threading
from types import SimpleNamespace

import pytest

from tests.engine.datasets.local_http import LocalServer, closed_port_url
from workers.engine import remote
from workers.engine.errors import ConfigError, DatasetError, DatasetFetchError
from workers.engine.remote import Checksum, download

BODY = bytes(range(256)) * 4096 + b"tail"  # just over 1 MiB: more than one chunk


@pytest.fixture
def server():
    with LocalServer() as local:
        yield local


@pytest.fixture
def pauses(monkeypatch):
    """The backoff pauses download asks for, recorded instead of slept."""
    asked: list[float] = []
    monkeypatch.setattr(remote, "time", SimpleNamespace(sleep=asked.append))
    return asked


def leftovers(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize(
    "checksum",
    [
        "md5:" + hashlib.md5(BODY).hexdigest(),
        "sha256:" + hashlib.sha256(BODY).hexdigest(),
        hashlib.md5(BODY).hexdigest().upper(),
        hashlib.sha256(BODY).hexdigest(),
    ],
)
def test_it_saves_the_body_when_the_publishers_checksum_matches(server, tmp_path, pauses, checksum):
    url = server.serve("/files/set.bin", BODY)

    fetched = download(url, tmp_path / "set.bin", max_bytes=len(BODY), checksum=checksum)

    assert (tmp_path / "set.bin").read_bytes() == BODY
    assert (fetched.size, fetched.sha256) == (len(BODY), hashlib.sha256(BODY).hexdigest())
    assert leftovers(tmp_path) == ["set.bin"]
    assert pauses == []


def test_it_reports_the_bytes_received_against_the_announced_total(server, tmp_path):
    url = server.serve("/set.bin", BODY)
    reports = []

    download(url, tmp_path / "set.bin", max_bytes=len(BODY), progress=lambda done, total: reports.append((done, total)))

    assert reports == [(remote.CHUNK_BYTES, len(BODY)), (len(BODY), len(BODY))]


def test_a_content_length_over_the_limit_is_refused_before_the_body_is_read(server, tmp_path, pauses):
    release = threading.Event()
    url = server.serve("/huge.bin", BODY, announce=10 * 1024**3, hold=release)

    with pytest.raises(DatasetError, match=r"announces 10737418240 bytes, over the 1000000 byte limit") as refused:
        download(url, tmp_path / "huge.bin", max_bytes=1_000_000)

    # The server holds the body back until released: had the client waited for it, this would be 1.
    assert server.bodies_started["/huge.bin"] == 0
    release.set()
    assert not isinstance(refused.value, DatasetFetchError)
    assert server.requests["/huge.bin"] == 1
    assert leftovers(tmp_path) == []


def test_a_body_without_a_length_is_cut_off_once_it_passes_the_limit(server, tmp_path, pauses):
    # Endless: the download only ends because the client stops at the limit.
    url = server.serve("/stream.bin", endless=True)

    with pytest.raises(DatasetError, match=r"runs past the 3000000 byte limit; stopped there") as refused:
        download(url, tmp_path / "stream.bin", max_bytes=3_000_000)

    assert not isinstance(refused.value, DatasetFetchError)
    assert server.requests["/stream.bin"] == 1
    assert leftovers(tmp_path) == []


def test_a_checksum_mismatch_is_refused_at_once_and_nothing_is_kept(server, tmp_path, pauses):
    url = server.serve("/set.bin", BODY)
    wrong = "md5:" + hashlib.md5(b"another file").hexdigest()

    with pytest.raises(DatasetError, match=r"the download's md5 is [0-9a-f]{32}, but the publisher gives") as refused:
        download(url, tmp_path / "set.bin", max_bytes=len(BODY), checksum=wrong)

    assert not isinstance(refused.value, DatasetFetchError)
    assert server.requests["/set.bin"] == 1
    assert leftovers(tmp_path) == []


def test_a_failed_download_leaves_an_existing_file_at_the_destination_untouched(server, tmp_path, pauses):
    (tmp_path / "set.bin").write_bytes(b"the copy from last week")
    url = server.serve("/set.bin", BODY)

    with pytest.raises(DatasetError):
        download(url, tmp_path / "set.bin", max_bytes=len(BODY), checksum="sha256:" + "0" * 64)

    assert (tmp_path / "set.bin").read_bytes() == b"the copy from last week"
    assert leftovers(tmp_path) == ["set.bin"]


def test_a_503_is_retried_after_a_pause_and_the_next_answer_is_kept(server, tmp_path, pauses):
    url = server.serve("/set.bin", BODY, failures=[503])

    fetched = download(url, tmp_path / "set.bin", max_bytes=len(BODY), checksum="md5:" + hashlib.md5(BODY).hexdigest())

    assert fetched.path.read_bytes() == BODY
    assert server.requests["/set.bin"] == 2
    assert pauses == [remote.BACKOFF_SECONDS]


def test_a_truncated_body_is_retried_from_the_start(server, tmp_path, pauses):
    url = server.serve("/set.bin", BODY, failures=["truncate", 502])

    fetched = download(url, tmp_path / "set.bin", max_bytes=len(BODY))

    assert fetched.path.read_bytes() == BODY
    assert server.requests["/set.bin"] == 3
    assert pauses == [remote.BACKOFF_SECONDS, 2 * remote.BACKOFF_SECONDS]


def test_a_body_cut_short_every_time_ends_as_a_fetch_error_and_nothing_is_kept(server, tmp_path, pauses):
    url = server.serve("/set.bin", BODY, failures=["truncate"] * 3)

    with pytest.raises(DatasetFetchError, match=r"after 3 attempts: the download was cut short: 524290 of 1048580"):
        download(url, tmp_path / "set.bin", max_bytes=len(BODY), retries=2)

    assert server.requests["/set.bin"] == 3
    assert server.bodies_started["/set.bin"] == 3
    assert leftovers(tmp_path) == []


def test_a_server_that_refuses_connections_is_retried_then_given_up(tmp_path, pauses):
    url = closed_port_url("/set.bin")

    with pytest.raises(DatasetFetchError, match=r"after 4 attempts: cannot connect"):
        download(url, tmp_path / "set.bin", max_bytes=100)

    assert pauses == [1.0, 2.0, 4.0]
    assert leftovers(tmp_path) == []


def test_a_missing_file_is_refused_without_retrying(server, tmp_path, pauses):
    with pytest.raises(DatasetError, match=r"the server answered HTTP 404") as refused:
        download(server.url("/nowhere.bin"), tmp_path / "nowhere.bin", max_bytes=100)

    assert not isinstance(refused.value, DatasetFetchError)
    assert server.requests["/nowhere.bin"] == 1
    assert pauses == []


def test_backoff_doubles_up_to_its_cap():
    assert [remote.backoff_seconds(attempt) for attempt in (1, 2, 3, 9)] == [1.0, 2.0, 4.0, remote.MAX_BACKOFF_SECONDS]


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/set.bin",
        "127.0.0.1/set.bin",
        "http://",
        "http://[::1/x",
        "http://h:port/x",
    ],
)
def test_only_http_and_https_urls_are_fetched(tmp_path, url):
    with pytest.raises(ConfigError) as refused:
        download(url, tmp_path / "set.bin", max_bytes=100)

    assert refused.value.field == "url"


@pytest.mark.parametrize("text", ["md5:xyz", "sha1:" + "0" * 40, "0" * 40, "sha256:" + "0" * 32])
def test_a_checksum_that_is_not_md5_or_sha256_is_refused_naming_the_field(text):
    with pytest.raises(ConfigError) as refused:
        Checksum.parse(text)

    assert refused.value.field == "checksum"
