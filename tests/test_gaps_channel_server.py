"""The old channel server's send path, step by step, on a real kernel and
network with stand-in sockets: who gets the broadcast and the ack, the
order it assigns (ts strictly increasing per channel, seq per channel),
the named steps in order, non-members dropped, typing and presence fan-out,
and the hand-off buffer drained to the web app in order, retried on failure."""

from conftest import make_net
from helpers import Recorder
from sim.architectures.old.channel_server import OldChannelServer
from sim.kernel import Node
from sim.nodes.protocol import Ack, Chat, Ephemeral, Hello, Post, Welcome

MEMBERS = {"C1": ["c1", "c2"], "C2": ["c2", "c3"]}


class Socket:
    """Stands in for one client's WebSocket at the server: keeps each frame
    as (kind, payload, trace) and, in ``sizes``, (sender, kind, bytes) — what
    the network's journal would count (it names the sending end, as a real
    connection does)."""

    def __init__(self, user):
        self.user = user
        self.meta = None
        self.sent = []
        self.sizes = []

    def send(self, sender, kind, payload, size=100, trace=None):
        self.sent.append((kind, payload, trace))
        self.sizes.append((sender.name, kind, size))
        return True


class Frame:
    def __init__(self, payload):
        self.payload = payload


class WebApp(Node):
    """Answers ``persist``: refuses the first ``fail`` requests, then stores."""

    role = "webapp"

    def reset_volatile(self):
        self.batches = []
        self.fail = self.durable.get("fail", 0)

    def persist(self, req):
        yield self.env.timeout(0.001)
        if self.fail:
            self.fail -= 1
            return "error", {"ok": False, "error": "internal_error"}, 40
        self.batches.append([c.msg for c in req.payload["rows"]])
        return "ok", {"ok": True}, 40

    HANDLERS = {"persist": persist}  # any other request is answered unknown_method


def server(fail=0):
    sim, _ = make_net()
    rec = sim.history = Recorder()
    web = WebApp(sim, "webapp-0", "us-east")
    web.durable["fail"] = fail
    cs = OldChannelServer(sim, "channel-server-0", "us-east", webapp="webapp-0", members=MEMBERS, retry=1.0,
                          timeout=2.0)
    for n in (web, cs):
        n.boot()
    socks = {u: Socket(u) for u in ("c1", "c2", "c3")}
    for u, s in socks.items():  # every client claims both channels: the server admits members only
        cs.on_message(s, Frame(Hello(u, ("C1", "C2"))))
        # RTM's hello event once subscribed (the client is connected only then);
        # the tests below look at what follows it
        assert [(k, p) for k, p, _ in s.sent] == [("welcome", Welcome())]
        s.sent.clear()
        s.sizes.clear()
    return sim, cs, web, socks, rec


def post(cs, socks, user, ch, msg):
    cs.on_message(socks[user], Frame(Post(ch, msg, f"text {msg}", user)))


def got(sock, kind):
    return [p for k, p, _ in sock.sent if k == kind]


def test_broadcast_to_members_then_ack_the_sender_with_the_same_ts():
    sim, cs, _, socks, rec = server()
    post(cs, socks, "c1", "C1", "m1")
    (to_c1,), (to_c2,) = got(socks["c1"], "message"), got(socks["c2"], "message")
    assert to_c1 == to_c2 and isinstance(to_c1, Chat)
    assert (to_c1.channel, to_c1.msg, to_c1.text, to_c1.sender, to_c1.seq) == ("C1", "m1", "text m1", "c1", 1)
    assert got(socks["c1"], "ack") == [Ack("C1", "m1", to_c1.ts)]
    assert [k for k, _, _ in socks["c1"].sent] == ["message", "ack"]  # broadcast before the ack
    assert socks["c1"].sent[1][2] == "m1"  # the ack is traced to the message
    assert got(socks["c3"], "message") == [] and got(socks["c2"], "ack") == []
    steps = [v["step"] for _, p, _, f, v in rec.ops if f == "step" and v.get("msg") == "m1"]
    assert steps == ["received", "broadcast", "ack_sent", "handoff"]
    assert [c.msg for c in cs.buffer] == ["m1"]


def test_ts_strictly_increases_and_seq_counts_per_channel_even_with_a_clock_behind():
    sim, cs, _, socks, _ = server()
    post(cs, socks, "c1", "C1", "a")
    cs.skew = -100.0  # the server's clock jumps back
    post(cs, socks, "c2", "C1", "b")
    post(cs, socks, "c2", "C2", "x")
    post(cs, socks, "c1", "C1", "c")
    chats = got(socks["c2"], "message")
    c1 = [c for c in chats if c.channel == "C1"]
    assert [c.seq for c in c1] == [1, 2, 3] and [c.seq for c in chats if c.channel == "C2"] == [1]
    ts = [float(c.ts) for c in c1]
    assert ts[0] < ts[1] < ts[2] and abs(ts[1] - ts[0] - 1e-6) < 1e-9


def test_a_non_members_send_is_dropped_unanswered():
    sim, cs, _, socks, rec = server()
    post(cs, socks, "c1", "C2", "m1")
    assert all(s.sent == [] for s in socks.values()) and cs.buffer == []
    assert [v["step"] for _, _, _, f, v in rec.ops if f == "step"] == ["received"]


def test_a_closed_socket_gets_no_more_broadcasts():
    sim, cs, _, socks, _ = server()
    cs.on_closed(socks["c2"], "reset")
    post(cs, socks, "c1", "C1", "m1")
    assert got(socks["c2"], "message") == [] and len(got(socks["c1"], "message")) == 1
    cs.on_closed(socks["c2"], "reset")  # twice: nothing to do


def test_typing_to_the_channels_other_members_presence_to_everyone_else():
    sim, cs, _, socks, _ = server()
    cs.on_message(socks["c2"], Frame(Ephemeral("typing", "C1", "c2")))
    assert got(socks["c1"], "typing") == [Ephemeral("typing", "C1", "c2")]
    assert got(socks["c2"], "typing") == [] and got(socks["c3"], "typing") == []
    cs.on_message(socks["c1"], Frame(Ephemeral("typing", "C2", "c1")))  # not a member of C2
    assert got(socks["c2"], "typing") == [] and got(socks["c3"], "typing") == []
    cs.on_message(socks["c2"], Frame(Ephemeral("presence", None, "c2")))
    assert got(socks["c1"], "presence") == got(socks["c3"], "presence") == [Ephemeral("presence", None, "c2")]
    assert got(socks["c2"], "presence") == [] and cs.presence == {"c2": "active"}


def test_the_buffer_is_handed_off_in_order_and_retried_until_the_web_app_takes_it():
    sim, cs, web, socks, rec = server(fail=1)
    for i in range(60):
        post(cs, socks, "c1", "C1", f"m{i}")
    sim.env.run(until=0.5)
    assert web.batches == [] and len(cs.buffer) == 60  # the first hand-off was refused
    sim.env.run(until=5)
    assert web.batches == [[f"m{i}" for i in range(50)], [f"m{i}" for i in range(50, 60)]]
    assert cs.buffer == []
    persisted = [v["msg"] for _, _, _, f, v in rec.ops if f == "step" and v["step"] == "persisted"]
    assert persisted == [f"m{i}" for i in range(60)]
    first = min(t for t, _, _, f, v in rec.ops if f == "step" and v["step"] == "persisted")
    assert first >= 1.0  # after the retry interval


def test_directory_events_reach_every_socket_and_replay_after_the_clients_snapshot():
    from sim.nodes.team import DirEvent

    sim, cs, _, socks, _ = server()
    events = [DirEvent(v, "join", "D", f"u{v}") for v in (1, 2, 3)]
    for ev in events:
        status, _, _ = cs.directory_event(type("Req", (), {"payload": ev})())
        assert status == "ok"
    assert all(got(s, "directory") == events for s in socks.values())
    late = Socket("c1")
    cs.on_message(late, Frame(Hello("c1", ("C1",), 1)))  # its snapshot had version 1
    assert got(late, "directory") == events[1:]


def test_frames_carry_the_servers_name_their_message_as_trace_and_their_byte_estimates():
    """What the journal counts per frame (docs: sizes are the load figures' estimates)."""
    from sim.nodes.team import DirEvent

    sim, cs, _, socks, _ = server()
    post(cs, socks, "c1", "C1", "m1")
    cs.on_message(socks["c2"], Frame(Ephemeral("typing", "C1", "c2")))
    cs.directory_event(type("Req", (), {"payload": DirEvent(1, "join", "D", "u1")})())
    (chat,) = got(socks["c2"], "message")
    assert [(k, t) for k, _, t in socks["c2"].sent if k == "message"] == [("message", "m1")]
    assert socks["c1"].sizes == [("channel-server-0", "message", chat.size), ("channel-server-0", "ack", 60),
                                 ("channel-server-0", "typing", 60), ("channel-server-0", "directory", 80)]
    late = Socket("c3")
    cs.on_message(late, Frame(Hello("c3", ("C2",), 0)))  # replayed on hello, then welcomed
    assert late.sizes == [("channel-server-0", "directory", 80), ("channel-server-0", "welcome", 40)]


def test_sends_and_typing_to_a_channel_nobody_holds_are_handled_without_harm():
    """A channel no client subscribed to, and one that does not exist: the
    server neither fails nor answers what it must drop."""
    sim, _ = make_net()
    sim.history = Recorder()
    cs = OldChannelServer(sim, "channel-server-0", "us-east", webapp="webapp-0", members=MEMBERS, retry=1.0,
                          timeout=2.0)
    WebApp(sim, "webapp-0", "us-east").reset_volatile()
    cs.reset_volatile()
    c2 = Socket("c2")
    cs.on_message(c2, Frame(Hello("c2", ("C9", "C1"))))  # C9 does not exist: ignored
    assert "C9" not in cs.subs and list(cs.subs["C1"]) == ["c2"]
    post(cs, {"c2": c2}, "c2", "C2", "m1")  # a member, but nobody is subscribed to C2
    assert got(c2, "ack") == [Ack("C2", "m1", got(c2, "ack")[0].ts)] and [c.msg for c in cs.buffer] == ["m1"]
    post(cs, {"c2": c2}, "c2", "C9", "m2")  # no such channel: dropped
    cs.on_message(c2, Frame(Ephemeral("typing", "C9", "c2")))
    cs.on_message(c2, Frame(Ephemeral("typing", "C2", "c2")))
    assert [k for k, _, _ in c2.sent] == ["welcome", "ack"] and [c.msg for c in cs.buffer] == ["m1"]


def test_the_first_ts_of_a_channel_is_the_servers_clock():
    sim, cs, _, socks, _ = server()
    sim.env.run(until=0.5)
    post(cs, socks, "c1", "C1", "m1")
    assert got(socks["c1"], "ack")[0].ts == "0.500000"


def test_an_idle_flusher_hands_a_new_message_off_at_once_and_names_the_batch():
    sim, cs, web, socks, rec = server()
    sim.env.run(until=3.3)  # nothing to hand off for a while
    post(cs, socks, "c1", "C1", "m1")
    post(cs, socks, "c1", "C1", "m2")
    sim.env.run(until=4.5)
    assert web.batches == [["m1", "m2"]]
    persisted = [t for t, _, _, f, v in rec.ops if f == "step" and v["step"] == "persisted"]
    assert len(persisted) == 2 and persisted[0] < 3.3 + 0.05  # the idle flusher looks every 5 ms
    (row,) = [r for r in sim.network.journal.rows if r[3] == "persist"]
    chats = got(socks["c2"], "message")
    assert (row[1], row[2], row[4], row[8]) == ("channel-server-0", "webapp-0", sum(c.size for c in chats), "m1,m2")


def test_a_hung_web_app_times_the_hand_off_out_and_it_is_retried_after_the_retry_interval():
    sim, cs, web, socks, rec = server()
    post(cs, socks, "c1", "C1", "m1")
    web.pause()
    sim.env.run(until=2.5)
    web.resume()
    sim.env.run(until=6)
    sent = [round(r[5], 1) for r in sim.network.journal.rows if r[3] == "persist"]
    assert sent[:2] == [0.0, 3.0]  # the 2 s timeout, then the 1 s retry interval
    assert web.batches[-1] == ["m1"]


def test_a_closed_socket_gets_no_directory_events():
    from sim.nodes.team import DirEvent

    sim, cs, _, socks, _ = server()
    cs.on_closed(socks["c3"], "reset")
    cs.directory_event(type("Req", (), {"payload": DirEvent(1, "join", "D", "u1")})())
    assert got(socks["c3"], "directory") == [] and len(got(socks["c1"], "directory")) == 1
