"""Deprecated: moved to ``fakezoo.hub.download``; this import path works for one more release."""

from ._moved import forward

__all__, __getattr__ = forward(
    "fakezoo._download",
    ["fakezoo.hub.download", "fakezoo.errors"],
    [
        "HubFileNotFoundError",
        "HubUnavailableError",
        "download_file",
        "download_snapshot",
        "hub_reachable",
    ],
)
