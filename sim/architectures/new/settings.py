"""Settings of the new architecture: the ``[new]`` table of a scenario
(Kafka, Redis, job workers, Flannel, the web app's dedupe and ts source)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ...config import Strict


class KafkaSettings(Strict):
    brokers: int = Field(3, ge=1)
    replication: int = Field(3, ge=1)
    partitions: int = Field(4, ge=1)
    acks: Literal["all", "1"] = "all"
    min_insync: int = Field(2, ge=1)
    unclean_election: bool = False
    replica_lag_max: float = Field(10.0, gt=0, description="replica.lag.time.max.ms, seconds")
    election_delay: float = Field(3.0, ge=0, description="time to detect a dead leader")
    fetch_interval: float = Field(0.05, gt=0)
    request_timeout: float = Field(5.0, gt=0)

    @field_validator("acks", mode="before")
    @classmethod
    def _acks_str(cls, v):
        return str(v)


class RedisSettings(Strict):
    persistence: bool = True
    replication_lag: float = Field(0.2, ge=0, description="async replication delay to the replica")
    ttl: float = Field(300.0, gt=0, description="dedupe key TTL, seconds")
    failover_delay: float = Field(2.0, ge=0)


class WorkerSettings(Strict):
    idempotent: bool = True
    poll: float = Field(0.05, gt=0)


class FlannelSettings(Strict):
    hosts_per_region: int = Field(2, ge=1)
    broken_warmup: bool = Field(False, description="canary: drop directory events while the cache warms up")


class NewSettings(Strict):
    webapps: int = Field(3, ge=1)
    channel_servers: int = Field(2, ge=1)
    reassign_delay: float = Field(20.0, ge=0, description="ring replaces a failed channel server after")
    dedupe: bool = True
    ts_source: Literal["kafka", "webapp"] = "kafka"
    hold_back: bool = True
    hold_timeout: float = Field(2.0, gt=0)
    rate_limit: float = Field(0.0, ge=0, description="per-client sends/s before 429 (0: off)")
    boot_throttle: int = Field(0, ge=0, description="concurrent boots a web app admits (0: no limit)")
    webapp_workers: int = Field(32, ge=1)
    flannel: FlannelSettings = FlannelSettings()
    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    workers: WorkerSettings = WorkerSettings()
