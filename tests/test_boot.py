"""Session boot at scale: payload growth, Flannel, boot consistency, storms."""

import json

import pytest

from helpers import cli, run_scenario
from sim import architectures
from sim.nodes.team import Teams, TeamSize
from sim.architectures.new.settings import HealthSettings
from reports.sweep import fit_exponent


def test_rtm_start_payload_grows_with_the_team_and_flannel_with_member_lists():
    # every profile (~1 KB) makes rtm.start linear in the team (issue 14: the
    # real one grows ~20x from 1.5k to 32k users), ~100 MB at 100k users
    assert 75e6 < TeamSize.derive(100_000).rtm_start_bytes() < 125e6
    sizes = [10_000, 30_000, 100_000]
    old = fit_exponent(sizes, [TeamSize.derive(n).rtm_start_bytes() for n in sizes])
    new = fit_exponent(sizes, [TeamSize.derive(n).flannel_boot_bytes() for n in sizes])
    assert 0.9 < old <= 1.1
    assert new < 0.8


def test_boot_sweep_fits_exponents_and_draws_the_curve(tmp_path):
    code, stdout, err = cli("sweep", "large-team-boot", "--out", str(tmp_path))
    assert code == 0, err
    doc = json.loads((tmp_path / "sweep.json").read_text())
    fits = doc["fits"]
    assert 0.9 < fits["old"]["exponent_large"] <= 1.1
    assert fits["new"]["exponent_large"] < 0.8
    pts = doc["points"]
    assert [p["value"] for p in pts] == sorted(p["value"] for p in pts)
    big = pts[-1]
    assert big["old"]["time_to_usable_p50"] > 10  # tens of seconds to download and parse ~100 MB
    assert big["new"]["bytes_per_boot"] < big["old"]["bytes_per_boot"] / 40
    svg = (tmp_path / "boot-curve.svg").read_text()
    assert 'id="boot-bytes-old"' in svg and 'id="boot-bytes-new"' in svg and "exponent" in svg
    assert "grow as size^" in stdout


def test_boot_consistency_holds_in_every_architecture_under_churn(tmp_path):
    for arch in architectures.names():
        result, _ = run_scenario("flannel-cold-restart", arch, 1, tmp_path / arch)
        bc = result["invariants"]["boot-consistency"]
        assert bc["valid"] is True and bc["counts"]["clients_checked"] == 40
        assert bc["counts"]["version"] > 50  # the directory really churned


def test_broken_flannel_warmup_is_caught(tmp_path):
    result, _ = run_scenario("flannel-cold-restart", "new", 1, tmp_path, ["new.flannel.broken_warmup=true"])
    bc = result["invariants"]["boot-consistency"]
    assert bc["valid"] is False
    assert all(v["kind"] == "stale-view" for v in bc["violations"])
    assert "unlike the directory" in bc["violations"][0]["explanation"]


def test_cold_flannel_sends_its_boot_load_to_the_backend(tmp_path):
    result, _ = run_scenario("flannel-cold-restart", "new", 1, tmp_path)
    fl = result["metrics"]["backend"]["flannel"]
    assert fl["loads"] == 3  # us-east and eu-west at start, eu-west again after the cold restart
    assert fl["misses"] > 0 and fl["hits"] > 0 and fl["profile_pushes"] > 0
    assert result["metrics"]["backend"]["webapp"]["boot_cpu_seconds"] > 0


@pytest.fixture(scope="module")
def storm(tmp_path_factory):
    out = tmp_path_factory.mktemp("storm")
    code, _, err = cli("sweep", "partition-reconnect-storm", "--out", str(out))
    assert code == 0, err
    return out, json.loads((out / "sweep.json").read_text())


def _peak(doc, variant, arch, key="backend_peak_boots_per_s"):
    return next(p for p in doc["points"] if p["name"] == variant)[arch]["storm"][key]


def test_storm_peak_drops_with_jitter_throttle_and_flannel(storm):
    out, doc = storm
    assert _peak(doc, "jitter", "old") < _peak(doc, "no-jitter", "old") / 2
    assert _peak(doc, "jitter", "old", "backend_peak_queue") < _peak(doc, "no-jitter", "old", "backend_peak_queue")
    assert _peak(doc, "jitter+throttle", "old") <= _peak(doc, "jitter", "old")
    for variant in ("no-jitter", "jitter", "jitter+throttle"):
        assert _peak(doc, variant, "new") == 0  # reconnects boot from Flannel's warm cache
    for p in doc["points"]:
        for arch in architectures.names():
            s = p[arch]["storm"]
            assert s["reconnected"] == s["disconnected_at_heal"] == 600
            assert s["time_to_all_usable"] is not None
    svg = (out / "backend-load.svg").read_text()
    assert 'id="load-old-no-jitter"' in svg and 'id="load-new-jitter"' in svg


def test_storm_run_reports_figures_in_result_json(storm):
    out, _ = storm
    result = json.loads((out / "jitter" / "old" / "result.json").read_text())
    s = result["metrics"]["storm"]
    for key in ("heal", "time_to_all_usable", "peak_reconnects_per_s", "backend_peak_requests_per_s",
                "backend_peak_boots_per_s", "backend_peak_queue"):
        assert key in s
    assert result["as_expected"] is True


def test_flannel_validates_sessions():
    from conftest import Probe, make_net
    from sim.nodes.discovery import Discovery
    from sim.nodes.flannel import Flannel
    from sim.nodes.protocol import Hello

    sim, net = make_net()
    Discovery(sim, "discovery", "us-east", servers=[], redis=[], health=HealthSettings(), failover_delay=2)
    fl = Flannel(sim, "flannel-0", "eu-west", discovery="discovery", webapps=["webapp-0"],
                 teams=Teams.single(TeamSize.derive(100), 1), broken_warmup=False, users=["client-1"])
    intruder = Probe(sim, "client-9", "eu-west")
    sim.start()
    boot = net.request(intruder, "flannel-0", "flannel.boot", {"user": "client-9"}, timeout=5)
    conn_ev = net.connect(intruder, "flannel-0")
    sim.env.run(until=1)
    assert boot.value.status == "error" and boot.value.payload["error"] == "invalid_auth"
    conn = conn_ev.value
    conn.send(intruder, "hello", Hello("client-9", ("C1",)), 100)
    sim.env.run(until=2)
    assert not conn.open and [r for _, r, _ in intruder.closed] == ["invalid_auth"]
    assert fl.clients == {}
