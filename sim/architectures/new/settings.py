"""Settings of the new architecture: the ``[new]`` table of a scenario
(Kafka, Redis, job workers, Flannel, the web app's dedupe and ts source)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ...config import Strict


class KafkaSettings(Strict):
    brokers: int = Field(3, ge=1)
    replication: int = Field(3, ge=1)
    partitions: int = Field(4, ge=1)
    acks: Literal["all", "1"] = "all"
    min_insync: int = Field(2, ge=1)
    unclean_election: bool = False
    replica_lag_max: float = Field(10.0, gt=0, description="replica.lag.time.max.ms, seconds")
    election_delay: float = Field(3.0, gt=0, description="broker.session.timeout: silence before the controller fences a broker")
    heartbeat_interval: float = Field(1.0, gt=0, description="broker.heartbeat.interval, seconds")
    replica_fetch_wait_max: float = Field(0.5, gt=0, description="replica.fetch.wait.max.ms, seconds: a follower's fetch parks this long")
    fetch_backoff: float = Field(0.1, gt=0, description="replica.fetch.backoff.ms, seconds: pause after a failed fetch")
    request_timeout: float = Field(5.0, gt=0)

    @field_validator("acks", mode="before")
    @classmethod
    def _acks_str(cls, v):
        return str(v)

    @model_validator(mode="after")
    def _timing(self):
        if self.heartbeat_interval >= self.election_delay:
            raise ValueError(f"heartbeat_interval ({self.heartbeat_interval}) must be below election_delay "
                             f"({self.election_delay}), or every broker is fenced between heartbeats")
        if self.replica_fetch_wait_max >= self.replica_lag_max:
            raise ValueError(f"replica_fetch_wait_max ({self.replica_fetch_wait_max}) must be below "
                             f"replica_lag_max ({self.replica_lag_max}), or idle followers leave the ISR")
        return self


class RedisSettings(Strict):
    persistence: bool = True
    replication_lag: float = Field(0.2, ge=0, description="async replication delay to the replica")
    ttl: float = Field(300.0, gt=0, description="dedupe key TTL, seconds")
    failover_delay: float = Field(2.0, ge=0)


class WorkerSettings(Strict):
    idempotent: bool = True
    fetch_max_wait: float = Field(0.5, gt=0, description="fetch.max.wait.ms, seconds: an empty fetch parks this long")
    retry_backoff: float = Field(0.1, gt=0, description="retry.backoff.ms, seconds: pause after a failed fetch")
    offset_reset: Literal["latest", "earliest", "none"] = Field(
        "latest", description="auto.offset.reset: where a consumer goes after OFFSET_OUT_OF_RANGE or a detected "
                              "truncation (none: stop consuming the partition)")


class HealthSettings(Strict):
    """How discovery finds a dead channel server (Consul-style active checks)."""

    interval: float = Field(5.0, gt=0, description="seconds between checks of each channel server")
    timeout: float = Field(1.0, gt=0, description="a check not answered within this fails")
    failures: int = Field(3, ge=1, description="consecutive failed checks before the server leaves the ring")
    passes: int = Field(1, ge=1, description="consecutive passed checks before it rejoins")


class FlannelSettings(Strict):
    hosts_per_region: int = Field(2, ge=1)
    broken_warmup: bool = Field(False, description="canary: drop directory events while the cache warms up")


class NewSettings(Strict):
    webapps: int = Field(3, ge=1)
    channel_servers: int = Field(2, ge=1)
    health: HealthSettings = HealthSettings()
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
