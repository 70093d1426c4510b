"""Several teams per run (issue 14): the topology, the team of each user,
Flannel's team affinity (a team's boots in a region all land on one host,
the ring's owner of the team id), a host restart that reloads only its own
teams, and per-team load in the run's metrics."""

import json
from collections import Counter

import pytest
from pydantic import ValidationError

from helpers import cli, history_ops, raw, run_scenario
from sim.architectures.base import teams_of
from sim.config import Topology
from sim.nodes.flannel import team_host
from sim.nodes.team import TeamSize

SIZES = {"bigco": 32_000, "midco": 5_000, "smallco": 1_500}


def topo(**kw) -> Topology:
    base = {"clients": [{"count": 3, "team": "a"}, {"region": "eu-west", "count": 2, "team": "b"},
                        {"count": 1, "team": "a"}],
            "channels": {"a-general": ["team:a"], "b-general": ["team:b"]},
            "teams": {"a": {"users": 1500, "auto_channels": 2}, "b": {}}}
    return Topology.model_validate({**base, **kw})


# -- the topology ------------------------------------------------------------------
def test_team_members_auto_channels_and_channel_teams():
    t = topo()
    assert t.team_clients() == {"a": ["client-1", "client-2", "client-3", "client-6"],
                                "b": ["client-4", "client-5"]}
    m = t.members()
    assert m["a-general"] == ["client-1", "client-2", "client-3", "client-6"]
    assert m["b-general"] == ["client-4", "client-5"]
    # the team's k-th client is in <team>-A<k mod n>
    assert m["a-A0"] == ["client-2", "client-6"] and m["a-A1"] == ["client-1", "client-3"]
    assert t.channel_teams() == {"a-general": "a", "b-general": "b", "a-A0": "a", "a-A1": "a"}
    assert t.membership_count() == sum(len(v) for v in m.values())


@pytest.mark.parametrize("change, message", [
    ({"channels": {"mixed": ["client-1", "client-4"]}}, "members from teams a, b"),
    ({"channels": {"all": ["*"]}}, '"*" spans every team'),
    ({"channels": {"x": ["team:nope"]}}, "names no declared team"),
    ({"channels": {"x": ["client-99"]}}, "is not a client"),
    ({"team": {"users": 10}}, "exclusive"),
    ({"auto_channels": 1}, "mixes teams"),
    ({"clients": [{"count": 2, "team": "a"}, {"count": 1}]}, "names its team"),
    ({"clients": [{"count": 2, "team": "a"}, {"count": 1, "team": "zz"}]}, "'zz' is not declared"),
    ({"clients": [{"count": 2, "team": "a"}]}, "team b has no clients"),
    ({"teams": {"a": {"directory": 2}, "b": {"directory": 1}}}, "at most one team"),
    ({"teams": {"a": {"auto_channels": 9}, "b": {}}}, "exceeds its clients"),
])
def test_inconsistent_teams_are_refused_with_the_reason(change, message):
    with pytest.raises(ValidationError, match=message):
        topo(**change)


def test_a_team_named_without_teams_is_refused():
    with pytest.raises(ValidationError, match="declares no teams"):
        Topology.model_validate({"clients": [{"count": 2, "team": "a"}]})


def test_single_team_header_is_unchanged():
    """Without ``topology.teams`` the dumped topology (the history header)
    has neither ``teams`` nor a group ``team``: old histories stay byte-identical."""
    dumped = Topology().model_dump(mode="json")
    assert "teams" not in dumped and all("team" not in g for g in dumped["clients"])
    dumped = topo().model_dump(mode="json")
    assert "teams" in dumped and "team" not in dumped
    assert Topology.model_validate(dumped) == topo()  # a multi-team header loads back


def test_bad_teams_file_is_one_line_exit_2(tmp_path):
    import tomli_w

    r = raw("multi-team-boot")
    r["topology"]["channels"]["mixed"] = ["client-1", "client-20"]  # bigco and midco
    f = tmp_path / "bad.toml"
    f.write_bytes(tomli_w.dumps(r).encode())
    code, out, err = cli("run", str(f), "--arch", "new", "--out", str(tmp_path / "o"))
    assert code == 2 and "a channel belongs to one team" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_team_of_each_user_follows_its_client_group():
    from scenarios import load_scenario

    scn = load_scenario("multi-team-boot")
    cfg = scn.run_config("new")
    teams = teams_of(cfg)
    for team, names in cfg.topology.team_clients().items():
        assert {teams.of(n) for n in names} == {team}
    assert teams.of("client-0") is None and teams.of("client-999") is None and teams.of("webapp-0") is None
    for team, users in SIZES.items():
        assert teams.sizes[team] == TeamSize.derive(users)
    assert teams.sizes["tiny"].users == 3 and teams.directory_team == "bigco"


# -- the ring ------------------------------------------------------------------------
def test_removing_or_adding_a_host_moves_only_its_teams():
    """Consistent hashing of team ids: a host that leaves gives away only its
    own teams; a host that joins takes teams only for itself."""
    hosts = [f"flannel-eu-west-{i}" for i in range(4)]
    teams = [f"T{i}" for i in range(400)]
    before = {t: team_host(hosts, t) for t in teams}
    assert len(set(before.values())) == 4  # every host serves some
    for gone in hosts:
        after = {t: team_host([h for h in hosts if h != gone], t) for t in teams}
        moved = {t for t in teams if after[t] != before[t]}
        assert moved == {t for t in teams if before[t] == gone}
    grown = {t: team_host(hosts + ["flannel-eu-west-4"], t) for t in teams}
    assert {grown[t] for t in teams if grown[t] != before[t]} == {"flannel-eu-west-4"}


# -- runs ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("teams")
    return {arch: run_scenario("multi-team-boot", arch, 1, tmp) for arch in ("old", "new", "rt2023")}


def hosts_of(arch: str) -> dict[str, list[str]]:
    prefix, n = ("flannel", 3) if arch == "new" else ("gateway", 3)
    regions = ("us-east", "eu-west", "ap-northeast")
    return {r: [f"{prefix}-{r}-{i}" for i in range(n)] for r in regions}


@pytest.mark.parametrize("arch", ["new", "rt2023"])
def test_every_boot_of_a_team_in_a_region_is_served_by_its_ring_host(runs, arch):
    result, _ = runs[arch]
    teams = result["metrics"]["teams"]
    hosts = hosts_of(arch)
    groups = result["config"]["topology"]["clients"]
    regions_of = {t: {g["region"] for g in groups if g["team"] == t} for t in teams}
    for team, row in teams.items():
        served = row["flannel"]["hosts"]
        assert set(served) == regions_of[team]
        for region, by_host in served.items():
            assert list(by_host) == [team_host(hosts[region], team)], (team, region, by_host)
        assert sum(n for by_host in served.values() for n in by_host.values()) == row["boots"]
    # the per-host view agrees: a host's teams are those the ring gives it
    for host, stats in result["metrics"]["backend"]["flannel_hosts"].items():
        for team in stats["teams"]:
            assert team_host(hosts[stats["region"]], team) == host


@pytest.mark.parametrize("arch, restarted", [("new", "flannel-eu-west-0"), ("rt2023", "gateway-eu-west-2")])
def test_a_host_restart_reloads_only_its_own_teams(runs, arch, restarted):
    """The scenario restarts one eu-west host: its teams' caches there are
    loaded twice (cold again), every other team's cache once per region."""
    result, _ = runs[arch]
    hosts = result["metrics"]["backend"]["flannel_hosts"]
    own = [t for t in result["metrics"]["teams"] if team_host(hosts_of(arch)["eu-west"], t) == restarted]
    assert own, "the restarted host serves no team: the scenario shows nothing"
    for host, stats in hosts.items():
        for team, ts in stats["teams"].items():
            want = 2 if host == restarted else 1
            assert ts["loads"] == want, (host, team, ts)
    assert set(hosts[restarted]["teams"]) == set(own)


def test_per_team_boot_payloads_follow_each_teams_size(runs):
    """rtm.start and Flannel's boot of each team's clients are that team's
    payloads; the teams' boots add up to the run's."""
    from scenarios import load_scenario

    sizes = teams_of(load_scenario("multi-team-boot").run_config("old")).sizes
    for arch, method in (("old", "rtm_start_bytes"), ("new", "flannel_boot_bytes"), ("rt2023", "flannel_boot_bytes")):
        result, out = runs[arch]
        m = result["metrics"]
        for team, row in m["teams"].items():
            assert row["bytes_per_boot"] == getattr(sizes[team], method)(), (arch, team)
        assert sum(row["boots"] for row in m["teams"].values()) == m["boots"]
        boots = Counter(op["process"] for op in history_ops(out) if op.get("f") == "boot")
        assert sum(boots.values()) == m["boots"]
    # the larger team costs more per boot, under every architecture
    for arch in runs:
        per = {t: r["bytes_per_boot"] for t, r in runs[arch][0]["metrics"]["teams"].items()}
        assert per["bigco"] > per["midco"] > per["smallco"] > per["tiny"]


def test_only_the_directory_team_keeps_a_directory_view(runs):
    result, out = runs["new"]
    views = {op["process"] for op in history_ops(out) if op.get("f") == "directory"}
    bigco = set(Topology.model_validate(result["config"]["topology"]).team_clients()["bigco"])
    assert views and views <= bigco
    assert result["invariants"]["boot-consistency"]["valid"] is True


def test_set_a_teams_size_from_the_command_line(tmp_path):
    code, out, err = cli("run", "multi-team-boot", "--arch", "old", "--set", "topology.teams.smallco.users=3000",
                         "--set", "workload.duration=22", "--set", "workload.settle=2", "--no-plots",
                         "--out", str(tmp_path / "r"))
    assert code in (0, 1), err
    m = json.loads((tmp_path / "r" / "result.json").read_text())["metrics"]
    assert m["teams"]["smallco"]["bytes_per_boot"] == TeamSize.derive(3000).rtm_start_bytes()
    assert "team smallco" in out
