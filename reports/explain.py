"""Why a message went wrong, as data for the report's diagrams.

``message_path`` walks a message through the architecture's declared
send-path steps (the history header's ``steps``) and what the run recorded
(``event``/``step`` ops): each step is *reached* (by which node, when, at
which op) or *never reached*, and then says why — the fault that cut the
path after the last step the message did reach (a step-triggered crash names
the step it cut), or that nothing recorded explains it. A message that went
through the path twice (a duplicate) gets one column per copy, each tied to
the send attempt that produced it: the latest attempt invoked before the
copy's first step. A step taken again within one pass (a fan-out to several
gateways, a retried route) stays in that copy's row, listed as ``also``.
``order_views`` puts two clients' views of a channel side by side with the
store's order, for an ordering violation.

Histories without ``steps`` in the header give ``None``; the report then
draws the journal-based message diagram instead (``plots.message_diagram``).
"""

from __future__ import annotations

from .data import FaultWindow, Run

VERBS = {"crash": "crashed", "pause": "paused", "partition": "was partitioned", "degrade": "had a degraded link",
         "skew": "had its clock skewed", "kafka-leader-crash": "lost its Kafka leader",
         "redis-failover": "failed over", "flannel-restart": "restarted cold"}


def _why_fault(w: FaultWindow, node: str) -> str:
    verb = VERBS.get(w.kind, f"suffered {w.kind}")
    who = node if node in w.nodes else w.label
    text = f"{who} {verb} at t={w.start:.3f}"
    if w.step:
        text += f" at step {w.step}"
    return text + (f" (fault #{w.fault})" if w.fault is not None else "")


def _cause(run: Run, msg: str, node: str | None, after: float, role: str) -> str:
    """The fault that best explains why nothing followed ``node``'s last step:
    one triggered by this very message first, then one on ``node`` (or on a
    node of the next step's role) in force at or starting after ``after``."""
    windows = run.faults()
    for w in windows:
        if w.value.get("msg") == msg:
            return _why_fault(w, node or w.label)
    suspects = [w for w in windows if w.end >= after and (
        (node and node in w.nodes) or any(n == role or n.startswith(role + "-") for n in w.nodes) or not w.nodes)]
    if suspects:
        w = min(suspects, key=lambda w: (w.start < after, w.start))
        return _why_fault(w, node if node and node in w.nodes else w.nodes[0] if w.nodes else w.label)
    if node is None:
        return "the message reached no step of the send path and no fault was recorded"
    return f"no fault recorded on {node} or any {role} after t={after:.3f}"


def message_path(run: Run, msg: str) -> dict | None:
    """The message's path through the declared steps, one column per copy."""
    steps = run.steps
    if not steps:
        return None
    events = run.step_events(msg)
    attempts = [op for op in run.ops if op.f == "send" and op.type == "invoke" and op.value.get("msg") == msg]
    pos = {s["step"]: i for i, s in enumerate(steps)}
    copies: list[dict[str, list]] = []  # step -> its ops in that copy
    placed: list[tuple[int, int]] = []  # (declared position, copy) of each op placed, in history order
    for op in events:
        step = op.value["step"]
        i = pos.get(step)
        if i is None:
            continue
        # A step follows the latest earlier step taken: that op's copy gets it. When
        # that copy already took it, it is a repeat in the same pass (a channel
        # server fans out to several gateways, an admin server retries the route),
        # unless another pass is still waiting for the step (two copies in flight).
        # Filing the k-th occurrence under copy k instead made every fan-out a
        # phantom copy and gave a resend's later steps to the pass a crash cut.
        pred = next((c for p, c in reversed(placed) if p < i), None)
        if pred is not None and step not in copies[pred]:
            k = pred
        else:
            k = next((c for c, got in enumerate(copies)
                      if step not in got and any(pos[s] < i for s in got)), None)
            if k is None:
                k = pred if pred is not None else next(
                    (c for c, got in enumerate(copies) if step not in got), len(copies))
        if k == len(copies):
            copies.append({})
        copies[k].setdefault(step, []).append(op)
        placed.append((i, k))
    if not copies:
        copies.append({})
    columns = []
    for k, reached in enumerate(copies):
        first = min((ops[0].time for ops in reached.values()), default=None)
        attempt = None
        if attempts:
            before = [a for a in attempts if first is None or a.time <= first]
            attempt = before[-1] if before else attempts[0]
        rows, last, gap = [], None, None
        for s in steps:
            name, role = s["step"], s.get("role", "")
            ops = reached.get(name)
            label = s.get("label") or name
            if ops:
                op = ops[0]
                also = ", ".join(f"{o.process} at t={o.time:.3f} (op #{o.index})" for o in ops[1:])
                rows.append({"step": name, "role": role, "label": label, "reached": True, "node": op.process,
                             "time": op.time, "index": op.index, "also": f"also {also}" if also else ""})
                last = op
            else:
                after = last.time if last else (attempt.time if attempt else 0.0)
                why = _cause(run, msg, last.process if last else None, after, role)
                # the node that should have taken the step: the last one's, when the step is its role's
                who = last.process if last is not None and last.process.startswith(role) else role
                rows.append({"step": name, "role": role, "label": label, "reached": False, "node": None,
                             "time": None, "index": None, "also": "",
                             "why": f"{label} ({who}): never reached" + (f" (after {gap})" if gap else "")
                             + f" — {why}"})
                gap = gap or name
        title = f"copy {k + 1}" if len(copies) > 1 else "path"
        if attempt is not None:
            n = attempts.index(attempt) + 1
            title += (f": from attempt {n} of {len(attempts)}" + (" (a retry)" if n > 1 else "")
                      + f", invoked at t={attempt.time:.3f} (op #{attempt.index})")
        columns.append({"title": title, "rows": rows})
    longest = max(len(c["title"]) for c in columns)
    for c in columns:
        for r in c["rows"]:
            text = r.get("why") or (f"{r['step']} · {r['node']} · t={r['time']:.3f} · op #{r['index']} — {r['label']}"
                                    + (f" ({r['also']})" if r["also"] else ""))
            longest = max(longest, len(r["step"]) + len(text) + 2)
    return {"msg": msg, "columns": columns, "invariants": run.violating_msgs().get(msg, []),
            "width": 40 + round(6.4 * longest)}  # one column's width in px, for 11 px text


def order_views(run: Run, violation: dict) -> dict | None:
    """For a ``total-order`` violation: the store's order of the channel and
    two clients' views (the one that broke the order and another member's),
    restricted to the messages around the two that swapped."""
    ch, m = violation.get("channel"), violation.get("msg")
    if not ch or not m or not violation.get("clients"):
        return None
    bad = violation["clients"][0]
    store: list[str] = []
    views: dict[str, list[str]] = {}
    reads: dict[str, list[str]] = {}
    for op in run.ops:
        v = op.value
        if v.get("channel") != ch:
            continue
        if op.f == "stored":
            store = list(v.get("msgs") or [])
        elif op.f == "deliver":
            views.setdefault(op.process, []).append(v.get("msg"))
        elif op.f == "read" and op.type == "ok":
            reads[op.process] = list(v.get("msgs") or [])
    seq_of = {c: (views.get(c) or reads.get(c) or []) for c in set(views) | set(reads)}
    if m not in store or bad not in seq_of:
        return None
    pos = {x: i for i, x in enumerate(store)}
    mine = seq_of[bad]
    # the message the client showed before m although the store holds it after m
    other_m = next((x for x in mine[:mine.index(m)] if x in pos and pos[x] > pos[m]), None) if m in mine else None
    pair = [x for x in (m, other_m) if x]
    lo = min(pos[x] for x in pair)
    hi = max(pos[x] for x in pair)
    window = set(store[max(0, lo - 2):hi + 3])
    other = next((c for c in sorted(seq_of) if c != bad and all(x in seq_of[c] for x in pair)
                  and seq_of[c].index(m) < (seq_of[c].index(other_m) if other_m else 1 << 30)), None)
    cols = [{"who": "store", "seq": [x for x in store if x in window]},
            {"who": bad + (" (live)" if bad in views else " (read)"), "seq": [x for x in mine if x in window]}]
    if other:
        cols.append({"who": other + (" (live)" if other in views else " (read)"),
                     "seq": [x for x in seq_of[other] if x in window]})
    return {"channel": ch, "msg": m, "pair": pair, "columns": cols}
