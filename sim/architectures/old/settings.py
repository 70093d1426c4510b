"""Settings of the old (RTM) architecture: the ``[old]`` table of a scenario."""

from __future__ import annotations

from pydantic import Field

from ...config import Region, Strict


class OldSettings(Strict):
    channel_servers: int = Field(1, ge=1, le=256)
    persist_retry: float = Field(1.0, ge=0.01, le=60, description="channel server → web app hand-off retry interval")
    persist_timeout: float = Field(2.0, gt=0, le=60)
    webapp_region: Region = "us-east"
    boot_throttle: int = Field(0, ge=0, le=100_000, description="concurrent rtm.start the web app admits (0: no limit)")
    webapp_workers: int = Field(32, ge=1, le=10_000)
