"""The consistent-hash ring manager (Slack's CHARM): which channel server
serves which channel. It is service discovery's ring half
(``sim.nodes.discovery.Discovery``, no Redis): channel servers heartbeat, one
silent for ``reassign_delay`` (~20 s) leaves the ring and its channels move
to the next server, which starts cold. Admin servers and gateways poll
``discovery.get``; while the ring manager is lost they keep the ring they
last saw, so nothing is remapped — a dead channel server's channels stay dark
until the manager returns and its grace period runs out.
"""

from __future__ import annotations

from ...nodes.discovery import Discovery


class RingManager(Discovery):
    role = "ring-manager"

    def __init__(self, sim, name, region, *, servers: list[str], reassign_delay: float):
        super().__init__(sim, name, region, servers=servers, redis=[], reassign_delay=reassign_delay,
                         failover_delay=reassign_delay)

    def reset_volatile(self):
        super().reset_volatile()
        # a (re)started manager gives every server a full grace period rather
        # than emptying the ring before the first heartbeats arrive
        self.last_seen = {n: self.env.now for n in self.servers}
