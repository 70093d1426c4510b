"""Settings of the new architecture: the ``[new]`` table of a scenario
(Kafka, Redis, job workers, Flannel, the web app's dedupe and ts source)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ...config import HealthSettings, Strict  # noqa: F401 (HealthSettings: part of NewSettings)


class KafkaSettings(Strict):
    brokers: int = Field(3, ge=1, le=64)
    replication: int = Field(3, ge=1, le=64)
    partitions: int = Field(4, ge=1, le=1024)
    acks: Literal["all", "1"] = "all"
    min_insync: int = Field(2, ge=1, le=64)
    unclean_election: bool = False
    replica_lag_max: float = Field(10.0, gt=0, le=600, description="replica.lag.time.max.ms, seconds")
    election_delay: float = Field(3.0, gt=0, le=600,
                                  description="broker.session.timeout: silence before the controller fences a broker")
    heartbeat_interval: float = Field(1.0, gt=0, le=60, description="broker.heartbeat.interval, seconds")
    replica_fetch_wait_max: float = Field(0.5, ge=0.001, le=60,
                                          description="replica.fetch.wait.max.ms, seconds: a follower's fetch parks this long")
    fetch_backoff: float = Field(0.1, ge=0.001, le=60,
                                 description="replica.fetch.backoff.ms, seconds: pause after a failed fetch")
    request_timeout: float = Field(5.0, gt=0, le=300)

    @field_validator("acks", mode="before")
    @classmethod
    def _acks_str(cls, v):
        return str(v)

    @model_validator(mode="after")
    def _relations(self):
        """min_insync ≤ replication ≤ brokers: otherwise no partition has its
        replicas, or (acks=all) every produce is refused and a run "holds" with
        nothing acked. Heartbeats and parked fetches must be shorter than the
        timeouts they feed, or every broker is fenced / every follower drops
        out of the ISR while idle."""
        if self.replication > self.brokers:
            raise ValueError(f"replication ({self.replication}) exceeds brokers ({self.brokers})")
        if self.acks == "all" and self.min_insync > self.replication:
            raise ValueError(f"min_insync ({self.min_insync}) exceeds replication "
                             f"({self.replication}): every produce would be refused")
        if self.heartbeat_interval >= self.election_delay:
            raise ValueError(f"heartbeat_interval ({self.heartbeat_interval}) must be below election_delay "
                             f"({self.election_delay}), or every broker is fenced between heartbeats")
        if self.replica_fetch_wait_max >= self.replica_lag_max:
            raise ValueError(f"replica_fetch_wait_max ({self.replica_fetch_wait_max}) must be below "
                             f"replica_lag_max ({self.replica_lag_max}), or idle followers leave the ISR")
        return self


class RedisSettings(Strict):
    persistence: bool = True
    replication_lag: float = Field(0.2, ge=0, le=60, description="async replication delay to the replica")
    ttl: float = Field(300.0, gt=0, le=86_400, description="dedupe key TTL, seconds")
    failover_delay: float = Field(2.0, ge=0, le=600)


class WorkerSettings(Strict):
    idempotent: bool = True
    fetch_max_wait: float = Field(0.5, ge=0.001, le=60,
                                  description="fetch.max.wait.ms, seconds: an empty fetch parks this long")
    retry_backoff: float = Field(0.1, ge=0.001, le=60, description="retry.backoff.ms, seconds: pause after a failed fetch")
    offset_reset: Literal["latest", "earliest", "none"] = Field(
        "latest", description="auto.offset.reset: where a consumer goes after OFFSET_OUT_OF_RANGE or a detected "
                              "truncation (none: stop consuming the partition)")


class FlannelSettings(Strict):
    hosts_per_region: int = Field(2, ge=1, le=16)
    broken_warmup: bool = Field(False, description="canary: drop directory events while the cache warms up")


class NewSettings(Strict):
    webapps: int = Field(3, ge=1, le=64)
    channel_servers: int = Field(2, ge=1, le=256)
    health: HealthSettings = HealthSettings()
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
