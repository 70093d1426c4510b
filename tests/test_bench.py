"""The benchmark plumbing (DESIGN §10): pairing, spreads, exponents, the
growth plot, the storm command. Nothing here asserts a timing."""

from __future__ import annotations

import json

import pytest

from chatsim.api import storm_scenario
from helpers import cli
from reports.growth import exponent, growth_plot
from sim import architectures
from sim.bench import FANOUT, interleaved, network_pair, paired, run_bare, run_model, spread
from sim.kernel import Simulation
from sim.network import NetConfig, Network


def test_paired_interleaves_and_reports_the_median_ratio_with_its_spread():
    calls = []
    a_times, b_times = [1.0, 2.0, 1.0, 4.0, 1.0], [2.0, 2.0, 3.0, 2.0, 1.5]

    def a(k):
        calls.append(("a", k))
        return a_times[k]

    def b(k):
        calls.append(("b", k))
        return b_times[k]

    p = paired(a, b, pairs=5)
    assert calls == [(s, k) for k in range(5) for s in ("a", "b")]  # A B A B ..., never A A ... B B
    assert p["median"] == 1.5 and p["min"] == 0.5 and p["max"] == 3.0  # ratios 2, 1, 3, .5, 1.5
    assert p["pairs"] == 5
    fig = spread("x", p)
    assert fig == {"x": 1.5, "x.min": 0.5, "x.max": 3.0, "x.pairs": 5}
    with pytest.raises(ValueError):
        paired(a, b, pairs=0)


def test_both_sides_of_the_network_ratio_deliver_every_message():
    """The model side goes through the real path (journal and all) and,
    like the bare side, delivers each message to every receiver."""
    assert run_model(300)[1] == run_bare(300)[1] == 300 * FANOUT


def test_a_pair_runs_its_two_sides_slice_by_slice():
    """``interleaved``: A to t1, B to t1, A to t2, B to t2 ... up to the end,
    each side's clock readings summed on its own account."""
    calls, ticks = [], iter(range(100))

    def side(name):
        return lambda until: calls.append((name, until))

    ta, tb = interleaved(side("a"), side("b"), end=2.0, segments=4, clock=lambda: float(next(ticks)))
    assert calls == [(s, u) for u in (0.5, 1.0, 1.5, 2.0) for s in ("a", "b")]
    assert (ta, tb) == (4.0, 4.0)  # one tick per slice and side


def test_a_network_pair_runs_every_message_of_both_sides():
    ta, tb = network_pair(200, segments=5)
    assert ta > 0 and tb > 0


def test_exponent_recovers_a_power_law():
    ns = [1000, 10_000, 100_000]
    assert exponent(ns, [3e-3 * n ** 1.5 for n in ns]) == pytest.approx(1.5)
    assert exponent(ns, [7 * n for n in ns]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        exponent([1000], [1.0])


ARCHS = architectures.names()


def test_growth_plot_writes_png_and_svg(tmp_path):
    rows = [{"clients": n, "arch": a, "cpu_seconds": n / 1000 * k, "traced_bytes": 9000 * n,
             "peak_rss_bytes": 5e7 + 1e4 * n} for n in (1000, 10_000) for k, a in enumerate(ARCHS, 1)]
    png, svg = growth_plot(rows, tmp_path / "growth")
    assert png.stat().st_size > 1000 and f"{ARCHS[-1]}: n^1.00" in svg.read_text()


def test_journal_rows_view_has_the_row_shape():
    sim = Simulation(1)
    net = Network(sim, NetConfig())
    from sim.bench import _Sink

    a, b = _Sink(sim, "a", "us-east"), _Sink(sim, "b", "us-east")
    sim.start()
    conn = net._open("ws", a, b, 10.0)
    conn.send(a, "x", 1, 10, "t1")
    sim.env.run()
    conn.open = False
    conn.send(a, "y", 2, 20, None)
    rows = net.journal.rows
    assert len(rows) == 2 and list(rows) == rows[:] == [rows[0], rows[-1]]
    assert [r[0] for r in rows] == [0, 1]  # a message id is its index
    assert rows[0][:6] == [0, "a", "b", "x", 10, 0.0] and rows[0][6] > 0 and rows[0][7:] == [None, "t1"]
    assert rows[1][6:] == [None, "closed", None]
    with pytest.raises(IndexError):
        rows[2]


def test_clients_of_every_design_keep_no_instance_dict(tmp_path):
    """Memory per client (DESIGN §10): a client is slotted all the way down."""
    from scenarios.loader import load_scenario
    from sim.runner import run

    scn = load_scenario("steady")
    for name in ARCHS:
        seen = {}

        def probe(sim):
            seen["c"] = next(n for n in sim.nodes.values() if n.role == "client")

        run(scenario=scn.name, seed=1, cfg=scn.run_config(name), faults=[], out=tmp_path / "h.jsonl", probe_at=0.5,
            probe=probe, journal=False)
        assert not hasattr(seen["c"], "__dict__"), name


def test_storm_scenario_scales_the_deployment_per_started_10k_clients():
    # up to 10k clients the scenario's own deployment (the recorded storm-300
    # histories depend on it); past that, a share more per started 10k
    base = storm_scenario(10_000)
    for arch in ("old", "new", "rt2023"):
        assert base.run_config(arch).arch == storm_scenario(300).run_config(arch).arch
    big = storm_scenario(25_000)
    old, new, rt = (big.run_config(a).arch for a in ("old", "new", "rt2023"))
    assert (old.webapp_workers, old.channel_servers) == (96, 3)
    assert (new.webapps, new.channel_servers, new.flannel.hosts_per_region) == (9, 6, 6)
    assert (rt.webapps, rt.admin_servers, rt.channel_servers, rt.gateway.hosts_per_region) == (9, 6, 9, 3)
    huge = storm_scenario(100_000).run_config("new").arch
    assert (huge.webapps, huge.flannel.hosts_per_region) == (30, 16)  # within the settings' bounds


def test_storm_scenario_scales_clients_and_channels():
    scn = storm_scenario(3000)
    assert sum(g.count for g in scn.topology.clients) == 3000
    assert scn.topology.auto_channels == 200
    big = storm_scenario(100_000)  # past the scenario size caps: the storm benchmark allows large runs
    assert sum(g.count for g in big.topology.clients) == 100_000


@pytest.mark.parametrize("plot", ["dir", "fifo"])
def test_a_plot_path_that_cannot_be_written_is_refused_before_any_storm(tmp_path, plot):
    """--plot P writes P.png and P.svg after minutes of storms: a directory or
    a FIFO in the way is one line and exit 2 at once, nothing run."""
    import os

    target = tmp_path / "g.png"
    if plot == "dir":
        target.mkdir()
    else:
        os.mkfifo(target)
    code, out, err = cli("bench", "--json", "--only", "none", "--storm", "150", "--arch", "old",
                         "--plot", str(tmp_path / "g"))
    assert code == 2 and out == "" and "storm: " not in err
    assert "--plot" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bench_storm_measures_growth_and_plots(tmp_path):
    code, out, err = cli("bench", "--json", "--only", "none", "--storm", "150,300", "--arch", "old",
                         "--plot", str(tmp_path / "g"))
    assert code == 0, err
    fig = json.loads(out)
    assert fig["storm.clients"] == [150, 300]
    assert fig["storm.old.300.connected_at_probe"] == 300
    assert fig["storm.old.bytes_per_connected_client"] == fig["storm.old.300.bytes_per_connected_client"] > 0
    assert isinstance(fig["storm.old.time_exponent"], float) and "storm.new.time_exponent" not in fig
    assert (tmp_path / "g.png").exists() and fig["storm.plot"][0].endswith("g.png")
    assert err.count("storm: ") == 2  # progress, one line per measurement
    assert fig["machine.cpus"] >= 1 and "machine.load_1min" in fig


@pytest.mark.parametrize("args, words", [
    (("--storm", "50"), "at least 100"),
    (("--storm", "1k"), "client counts"),
    (("--plot", "x"), "--storm"),
    (("--storm", "200", "--arch", "nope"), "not a registered architecture"),
])
def test_bench_bad_options_are_one_line_errors(args, words):
    code, _, err = cli("bench", "--only", "none", *args)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1

