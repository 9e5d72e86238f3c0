"""Optional downloads, against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading

import pytest

from coursekit.data import download
from coursekit.data.download import DownloadError, Remote, fetch, fetch_remote

PAYLOAD = b"In the beginning was the word.\n" * 1000


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on a free 127.0.0.1 port: good.txt and a corrupted copy bad.txt."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "good.txt").write_bytes(PAYLOAD)
    (www / "bad.txt").write_bytes(PAYLOAD[:-2] + b"X\n")
    (www / "short.txt").write_bytes(PAYLOAD[:100])
    handler = functools.partial(_QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(download.CACHE_ENV, str(folder))
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _remote(*urls: str, size: int | None = len(PAYLOAD)) -> Remote:
    return Remote("test_file", "test.txt", urls, hashlib.sha256(PAYLOAD).hexdigest(), size)


def test_good_file_is_downloaded_verified_and_cached(server, cache):
    path = fetch_remote(_remote(f"{server}/good.txt"))
    assert path == cache / "test.txt" and path.read_bytes() == PAYLOAD
    assert [p.name for p in cache.iterdir()] == ["test.txt"]  # no partial files left
    # second call: served from the cache, even with the server unreachable
    again = fetch_remote(_remote(f"http://127.0.0.1:{_free_port()}/good.txt"))
    assert again == path


def test_corrupted_copy_is_refused_and_not_cached(server, cache):
    with pytest.raises(DownloadError, match=r"(?s)sha256 .* expected .*did not match its checksum"):
        fetch_remote(_remote(f"{server}/bad.txt"))
    with pytest.raises(DownloadError, match=r"100 bytes, expected 31000"):
        fetch_remote(_remote(f"{server}/short.txt"))
    assert list(cache.iterdir()) == []


def test_mirror_is_used_when_the_first_copy_is_bad(server, cache):
    path = fetch_remote(_remote(f"{server}/bad.txt", f"{server}/good.txt", size=None))
    assert path.read_bytes() == PAYLOAD


def test_damaged_cached_copy_is_replaced(server, cache):
    cache.mkdir()
    (cache / "test.txt").write_bytes(b"damaged")
    assert fetch_remote(_remote(f"{server}/good.txt")).read_bytes() == PAYLOAD


def test_unreachable_server_says_offline(cache):
    url = f"http://127.0.0.1:{_free_port()}/good.txt"
    with pytest.raises(DownloadError, match=r"(?s)Could not download 'test_file'.*Are you offline"):
        fetch_remote(_remote(url), timeout=5)


def test_missing_file_on_server(server, cache):
    with pytest.raises(DownloadError, match=r"(?s)HTTP 404 .*did not serve the file"):
        fetch_remote(_remote(f"{server}/nothing.txt"))


def test_unknown_name_lists_the_registry(cache):
    with pytest.raises(DownloadError, match="Available: chinese_poetry_full"):
        fetch("everything")


def test_registry_entries_are_well_formed():
    for name, remote in download.REGISTRY.items():
        assert remote.name == name and remote.license and remote.description
        assert len(remote.urls) >= 2, f"{name} needs a mirror"
        assert all(u.startswith(("https://", "http://")) for u in remote.urls)
    with pytest.raises(ValueError, match="sha256"):
        Remote("x", "x.txt", ("http://127.0.0.1/x",), "abc")
    with pytest.raises(ValueError, match="folder"):
        Remote("x", "../x.txt", ("http://127.0.0.1/x",), "0" * 64)


def test_cache_dir_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv(download.CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert download.cache_dir() == tmp_path / ".cache" / "coursekit"
