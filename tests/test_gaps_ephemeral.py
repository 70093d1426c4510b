"""Presence and typing (DESIGN §5): best effort, never stored, never
delivered to non-members — in every registered design, including when a
client types in a channel it is not in.

They are not recorded in the history (by design: they are load, not state),
so the test watches what each client receives during a real run."""

import pytest

import sim.runner as runner
from helpers import run_scenario
from sim import architectures
from sim.nodes.protocol import Ephemeral

BUSY = ["workload.duration=8", "workload.settle=3", "workload.typing_rate=2", "workload.presence_rate=1"]
STEADY = {"general": [f"client-{i}" for i in range(1, 9)], "eng": ["client-1", "client-2", "client-3", "client-6"],
          "random": ["client-4", "client-5", "client-7", "client-8"]}


@pytest.mark.parametrize("arch", architectures.names())
def test_typing_reaches_members_only_and_presence_never_echoes(arch, monkeypatch, tmp_path):
    got: list[tuple[str, Ephemeral]] = []
    cls = architectures.get(arch).client
    real_on_message = cls.on_message

    def on_message(self, conn, msg):
        if isinstance(msg.payload, Ephemeral):
            got.append((self.name, msg.payload))
        return real_on_message(self, conn, msg)

    monkeypatch.setattr(cls, "on_message", on_message)
    real_wiring = runner.check_wiring

    def wiring(sim, a, faults):
        real_wiring(sim, a, faults)

        def hostile():  # client-1 is not in "random": its typing there must reach nobody
            for _ in range(20):
                yield sim.env.timeout(0.25)
                c = sim.node("client-1")
                if c.usable:
                    c.ephemeral("typing", "random")

        sim.env.process(hostile())

    monkeypatch.setattr(runner, "check_wiring", wiring)
    run_scenario("steady", arch, 1, tmp_path, BUSY)
    typing = [(c, e) for c, e in got if e.kind == "typing"]
    presence = [(c, e) for c, e in got if e.kind == "presence"]
    assert len(typing) > 20 and presence  # the run exercised both
    for c, e in typing:
        assert c in STEADY[e.channel] and e.user in STEADY[e.channel] and c != e.user, (c, e)
    assert not [e for _, e in typing if e.user == "client-1" and e.channel == "random"]
    for c, e in presence:
        assert c != e.user and e.channel is None, (c, e)
