"""Event counts of small runs: exact, so a test can hold them where timings cannot."""

from chatsim.api import small_run_events


def test_small_run_event_counts_are_exact_and_the_new_design_within_2x_of_the_old():
    new = small_run_events("crash-mid-send", "new")
    assert small_run_events("crash-mid-send", "new") == new  # same seed, same events
    old = small_run_events("crash-mid-send", "old")
    # a shortcut undone (a process per request, a scheduled reply) adds
    # thousands of events: 31.6k before this work, 21.6k after, old 13.0k
    assert new / old <= 2.0


def test_small_run_counts_split_idle_traffic_from_the_sends():
    from chatsim.api import small_run_counts

    busy = small_run_counts("crash-mid-send", "new")
    idle = small_run_counts("crash-mid-send", "new", idle=True)
    assert busy == small_run_counts("crash-mid-send", "new")  # exact: same seed, same counts
    assert idle["sends"] == 0 and busy["sends"] > 100
    # the idle system still runs (long polls, heartbeats), but sending is what costs messages
    assert 0 < idle["messages"] < busy["messages"]
    old = small_run_counts("crash-mid-send", "old")
    old_idle = small_run_counts("crash-mid-send", "old", idle=True)
    per_send = (busy["messages"] - idle["messages"]) / busy["sends"]
    old_per_send = (old["messages"] - old_idle["messages"]) / old["sends"]
    assert 1 < per_send / old_per_send < 5  # the new design's send path is longer (DESIGN §5), not unbounded
