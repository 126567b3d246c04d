"""Fetching files from the Hugging Face Hub with fast, actionable failures.

A foundation module: the zoo's ImageNet weights ([`fakezoo.models.build`][fakezoo.models.build])
and trained runs ([`fakezoo.runs.loader`][fakezoo.runs.loader]) both come through it.

huggingface_hub retries a failed connection for tens of seconds before it gives up. fakezoo
first checks the local cache, then probes the endpoint once with a short timeout, so that an
offline machine gets a clear error in well under a second.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import getproxies, proxy_bypass

from huggingface_hub import constants, hf_hub_download, snapshot_download, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .errors import HubFileNotFoundError, HubUnavailableError

__all__ = ["download_file", "download_snapshot", "hub_offline", "hub_reachable"]


# Read at call time (a test or a long-lived process may change them); huggingface_hub.constants
# holds the values seen when huggingface_hub was first imported.
def hub_offline() -> bool:
    """Whether ``$HF_HUB_OFFLINE`` asks for no network access (read at call time)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").upper() in {"1", "ON", "YES", "TRUE"}


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", constants.ENDPOINT).rstrip("/")


def hub_reachable(endpoint: str | None = None, timeout: float = 0.75) -> bool:
    """Whether a TCP connection to the Hub endpoint opens within ``timeout`` seconds.

    Behind a proxy (``HTTPS_PROXY``, ``HTTP_PROXY``, unless ``NO_PROXY`` names the host) the
    proxy is probed instead. DNS lookups cannot be given a timeout, so the probe runs in a
    daemon thread.

    Example:
        ```python
        from fakezoo.download import hub_reachable
        hub_reachable("http://127.0.0.1:9")  # False: nothing listens there
        ```
    """
    url = urlparse(endpoint or _endpoint())
    proxy = getproxies().get(url.scheme)
    if proxy and not proxy_bypass(url.hostname or ""):
        url = urlparse(proxy if "://" in proxy else f"http://{proxy}")
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    ok: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(ok)


def _unavailable(what: str, hint: str) -> HubUnavailableError:
    reason = "HF_HUB_OFFLINE=1 is set" if hub_offline() else f"{_endpoint()} cannot be reached"
    return HubUnavailableError(
        f"Cannot download {what}: {reason} and it is not in the local "
        f"Hugging Face cache ({constants.HF_HUB_CACHE}). {hint}"
    )


def _not_found(what: str, err: Exception) -> HubFileNotFoundError:
    if isinstance(err, GatedRepoError):
        return HubFileNotFoundError(
            f"{what} is in a gated repository: accept its conditions on the Hub's page for it, "
            f"then log in (`hf auth login`) or set HF_TOKEN."
        )
    return HubFileNotFoundError(
        f"{what} does not exist on the Hub ({err.__class__.__name__}). "
        f"Check the repo id, the revision and your access token."
    )


def download_file(
    repo_id: str, filename: str, *, revision: str | None = None, hint: str = ""
) -> Path:
    """Return the local path of ``filename`` from a Hub repo, from the cache when possible.

    Raises:
        fakezoo.errors.HubUnavailableError: offline or unreachable, and the file is not cached.
        fakezoo.errors.HubFileNotFoundError: the repo, revision or file does not exist.
    """
    cached = try_to_load_from_cache(repo_id, filename, revision=revision)
    if isinstance(cached, str):
        return Path(cached)
    what = f"'{filename}' from '{repo_id}'" + (f" at revision '{revision}'" if revision else "")
    if hub_offline() or not hub_reachable():
        raise _unavailable(what, hint)
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision))
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as err:
        if isinstance(err, LocalEntryNotFoundError):
            raise _unavailable(what, hint) from err
        raise _not_found(what, err) from err


def download_snapshot(
    repo_id: str,
    *,
    revision: str | None = None,
    allow_patterns: list[str] | None = None,
    hint: str = "",
) -> Path:
    """Download (or find in the cache) a snapshot of a Hub repo and return its folder.

    With ``HF_HUB_OFFLINE=1`` a warm cache is used with no network access.
    """
    what = f"'{repo_id}'" + (f" at revision '{revision}'" if revision else "")
    if not hub_offline() and not hub_reachable():
        try:
            return Path(
                snapshot_download(
                    repo_id, revision=revision, allow_patterns=allow_patterns, local_files_only=True
                )
            )
        except LocalEntryNotFoundError as err:
            raise _unavailable(what, hint) from err
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=allow_patterns))
    except LocalEntryNotFoundError as err:
        raise _unavailable(what, hint) from err
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        raise _not_found(what, err) from err
