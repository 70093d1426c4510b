"""Settings of the rt2023 architecture: the ``[rt2023]`` table of a scenario
(web apps, admin servers, the channel-server ring, the sharded database, the
Kafka job queue, gateways, presence)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...config import HealthSettings, Strict
from ..new.settings import KafkaSettings


class ShardSettings(Strict):
    shards: int = Field(2, ge=1, le=64, description="message shards (channels hashed over them)")
    replication_lag: float = Field(0.5, ge=0, le=60, description="async replication delay primary → replica, s")
    failover_delay: float = Field(3.0, ge=0.5, le=120, description="primary silent this long: replica promoted")


class JobQueueSettings(KafkaSettings):
    """Kafka behind Kafkagate: leader-only acks and unclean election, as Slack
    runs its job queue (deferred work only: nothing on the send path waits)."""

    brokers: int = Field(3, ge=1, le=16)
    partitions: int = Field(2, ge=1, le=64)
    acks: Literal["all", "1"] = "1"
    unclean_election: bool = True


class GatewaySettings(Strict):
    hosts_per_region: int = Field(1, ge=1, le=16, description="gateway servers (Flannel hosts) per region")


class Rt2023Settings(Strict):
    webapps: int = Field(3, ge=1, le=64)
    admin_servers: int = Field(2, ge=1, le=64)
    channel_servers: int = Field(3, ge=1, le=256)
    presence_servers: int = Field(1, ge=1, le=16)
    respond_first: bool = Field(True, description="answer the sender before calling the admin server")
    admin_timeout: float = Field(2.0, gt=0, le=30, description="web app → admin server call timeout (admin first)")
    route_attempts: int = Field(3, ge=1, le=20, description="admin server → channel server attempts")
    route_retry: float = Field(1.0, gt=0, le=30, description="pause between an admin server's attempts, s")
    health: HealthSettings = Field(HealthSettings(), description="how the ring manager finds a dead channel server")
    recent_messages: int = Field(50, ge=1, le=10_000, description="messages per channel a channel server keeps")
    hold_back: bool = True
    hold_timeout: float = Field(2.0, gt=0, le=60)
    jobs: bool = Field(True, description="enqueue deferred work (indexing, unfurls) on the job queue")
    db: ShardSettings = ShardSettings()
    kafka: JobQueueSettings = JobQueueSettings()
    gateway: GatewaySettings = GatewaySettings()
    webapp_workers: int = Field(32, ge=1, le=10_000)
    boot_throttle: int = Field(0, ge=0, le=100_000, description="concurrent cold-gateway loads a web app admits (0: no limit)")

    @model_validator(mode="after")
    def _relations(self):
        # kafka's own relations (min_insync ≤ replication ≤ brokers) are KafkaSettings'
        if self.hold_timeout >= self.health.interval * self.health.failures:
            raise ValueError("hold_timeout must be shorter than a channel server's replacement "
                             "(health.interval × health.failures)")
        return self
