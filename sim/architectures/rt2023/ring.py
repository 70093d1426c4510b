"""The consistent-hash ring manager (Slack's CHARM): which channel server
serves which channel. It is service discovery's ring half
(``sim.nodes.discovery.Discovery``, no Redis): it health-checks the channel
servers, and one that fails ``health.failures`` checks in a row (~11-16 s with
the defaults) leaves the ring and its channels move to the next server,
which starts cold. Admin servers and gateways poll
``discovery.get``; while the ring manager is lost they keep the ring they
last saw, so nothing is remapped — a dead channel server's channels stay dark
until the manager returns and its checks fail it.
"""

from __future__ import annotations

from ...nodes.discovery import Discovery


class RingManager(Discovery):
    role = "ring-manager"

    def __init__(self, sim, name, region, *, servers: list[str], health):
        super().__init__(sim, name, region, servers=servers, redis=[], health=health, failover_delay=0.0)
