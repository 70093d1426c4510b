"""Settings of the new architecture: the ``[new]`` table of a scenario
(Kafka, Redis, job workers, Flannel, the web app's dedupe and ts source)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ...config import Strict


class KafkaSettings(Strict):
    brokers: int = Field(3, ge=1, le=64)
    replication: int = Field(3, ge=1, le=64)
    partitions: int = Field(4, ge=1, le=1024)
    acks: Literal["all", "1"] = "all"
    min_insync: int = Field(2, ge=1, le=64)
    unclean_election: bool = False
    replica_lag_max: float = Field(10.0, gt=0, le=600, description="replica.lag.time.max.ms, seconds")
    election_delay: float = Field(3.0, ge=0, le=600, description="time to detect a dead leader")
    fetch_interval: float = Field(0.05, ge=0.001, le=60)
    request_timeout: float = Field(5.0, gt=0, le=300)

    @field_validator("acks", mode="before")
    @classmethod
    def _acks_str(cls, v):
        return str(v)

    @model_validator(mode="after")
    def _relations(self):
        """min_insync ≤ replication ≤ brokers: otherwise no partition has its
        replicas, or (acks=all) every produce is refused and a run "holds" with
        nothing acked."""
        if self.replication > self.brokers:
            raise ValueError(f"replication ({self.replication}) exceeds brokers ({self.brokers})")
        if self.acks == "all" and self.min_insync > self.replication:
            raise ValueError(f"min_insync ({self.min_insync}) exceeds replication "
                             f"({self.replication}): every produce would be refused")
        return self


class RedisSettings(Strict):
    persistence: bool = True
    replication_lag: float = Field(0.2, ge=0, le=60, description="async replication delay to the replica")
    ttl: float = Field(300.0, gt=0, le=86_400, description="dedupe key TTL, seconds")
    failover_delay: float = Field(2.0, ge=0, le=600)


class WorkerSettings(Strict):
    idempotent: bool = True
    poll: float = Field(0.05, ge=0.001, le=60)


class FlannelSettings(Strict):
    hosts_per_region: int = Field(2, ge=1, le=16)
    broken_warmup: bool = Field(False, description="canary: drop directory events while the cache warms up")


class NewSettings(Strict):
    webapps: int = Field(3, ge=1, le=64)
    channel_servers: int = Field(2, ge=1, le=256)
    reassign_delay: float = Field(20.0, ge=0, le=600, description="ring replaces a failed channel server after")
    dedupe: bool = True
    ts_source: Literal["kafka", "webapp"] = "kafka"
    hold_back: bool = True
    hold_timeout: float = Field(2.0, gt=0, le=60)
    rate_limit: float = Field(0.0, ge=0, le=10_000, description="per-client sends/s before 429 (0: off)")
    boot_throttle: int = Field(0, ge=0, le=100_000, description="concurrent boots a web app admits (0: no limit)")
    webapp_workers: int = Field(32, ge=1, le=10_000)
    flannel: FlannelSettings = FlannelSettings()
    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    workers: WorkerSettings = WorkerSettings()
