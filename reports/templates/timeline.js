// chatsim timeline: draws each .tl block from its JSON data (see reports/timeline.py).
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg", LANE = 18, LEFT = 150, TOP = 26;
  var COLORS = {"invoke": "#555", "ok": "#1a7f37", "fail": "#cf222e", "info": "#bf8700", "event": "#0969da"};
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function lowerBound(ix, times, t) {  // first position in ix whose time >= t
    var lo = 0, hi = ix.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (times[ix[mid]] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function Timeline(root) {
    var D = JSON.parse(root.querySelector("script.tl-data").textContent);
    var n = D.ops.length, times = new Float64Array(n), laneOf = new Int32Array(n), msgOf = new Int32Array(n);
    var byLane = D.lanes.map(function () { return []; }), msgKey = [], vio = new Uint8Array(n);
    D.shapes.forEach(function (keys, s) { msgKey[s] = keys.indexOf("msg"); });
    for (var i = 0; i < n; i++) {
      var op = D.ops[i], k = msgKey[op[3]];
      times[i] = op[0]; laneOf[i] = op[1]; byLane[op[1]].push(i);
      msgOf[i] = k >= 0 && typeof op[4 + k] === "number" ? op[4 + k] : -1;
    }
    byLane = byLane.map(function (a) { return Int32Array.from(a); });
    var vmsg = {};
    D.violations.forEach(function (v) { v.indexes.forEach(function (j) { if (j < n) vio[j] = 1; }); if (v.msg) vmsg[v.msg] = 1; });
    for (i = 0; i < n; i++) if (msgOf[i] >= 0 && vmsg[D.strings[msgOf[i]]] && /send|deliver/.test(D.kinds[D.ops[i][2]])) vio[i] = 1;
    var svg = root.querySelector("svg.tl-svg"), tip = root.querySelector(".tl-tip"), status = root.querySelector(".tl-status");
    var view = {t0: 0, t1: D.t_end}, width = 0, selected = null, hlOps = [];
    var height = TOP + LANE * D.lanes.length + 10;
    svg.setAttribute("height", height);

    function field(x) { return typeof x === "number" ? D.strings[x] : x.s ? x.s.map(function (j) { return D.strings[j]; }) : x.j; }
    function record(i) {
      var op = D.ops[i], keys = D.shapes[op[3]], kind = D.kinds[op[2]].split(" "), value = {};
      keys.forEach(function (key, j) { value[key] = field(op[4 + j]); });
      return {index: i, time: op[0], process: D.lanes[op[1]], type: kind[0], f: kind[1], value: value};
    }
    function mentions(i, m) {
      if (msgOf[i] === m) return true;
      var op = D.ops[i], keys = D.shapes[op[3]], j = keys.indexOf("msgs");
      return j >= 0 && op[4 + j].s !== undefined && op[4 + j].s.indexOf(m) >= 0;
    }
    function x(t) { return LEFT + (t - view.t0) / (view.t1 - view.t0) * (width - LEFT - 10); }
    function tAt(px) { return view.t0 + (px - LEFT) / (width - LEFT - 10) * (view.t1 - view.t0); }
    function laneY(l) { return TOP + l * LANE; }

    function draw() {
      width = root.clientWidth || 1000;
      svg.setAttribute("width", width);
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      var span = view.t1 - view.t0, step = Math.pow(10, Math.floor(Math.log10(span / 6)));
      if (span / step > 12) step *= 5; else if (span / step > 6) step *= 2;
      for (var t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
        el("line", {x1: x(t), x2: x(t), y1: TOP - 4, y2: height, class: "tl-grid"}, svg);
        el("text", {x: x(t), y: TOP - 8, class: "tl-tick"}, svg).textContent = (+t.toFixed(6)) + " s";
      }
      D.lanes.forEach(function (name, l) {
        if (l % 2) el("rect", {x: 0, y: laneY(l), width: width, height: LANE, class: "tl-band"}, svg);
        el("text", {x: LEFT - 6, y: laneY(l) + 13, class: "tl-lane"}, svg).textContent = name;
      });
      D.faults.forEach(function (f) {
        var x0 = Math.max(LEFT, x(f.start)), x1 = Math.min(width - 10, Math.max(x(f.end), x0 + 2));
        if (x1 < LEFT || x0 > width) return;
        var rows = f.lanes.length ? f.lanes : D.lanes.map(function (_, l) { return l; });
        rows.forEach(function (l) {
          el("rect", {x: x0, y: laneY(l), width: x1 - x0, height: LANE, class: "tl-fault tl-fault-" + f.kind,
                      "data-fault": f.id === null ? "" : f.id}, svg);
        });
        var label = el("text", {x: x0 + 2, y: laneY(Math.min.apply(null, rows)) + 10, class: "tl-fault-label"}, svg);
        label.textContent = f.desc;
      });
      var room = (width - LEFT - 10) / 2.5;  // marks 2 px wide: beyond this a lane is ink, so bin it
      D.lanes.forEach(function (name, l) {
        var ix = byLane[l], a = lowerBound(ix, times, view.t0), b = lowerBound(ix, times, view.t1 + 1e-9);
        var y = laneY(l);
        if (b - a > room) {  // density strip: 3 px bins, four shades
          var bins = {}, peak = 0, j, px;
          for (j = a; j < b; j++) { px = Math.floor(x(times[ix[j]]) / 3); bins[px] = (bins[px] || 0) + 1; if (bins[px] > peak) peak = bins[px]; }
          var paths = ["", "", "", ""];
          for (px in bins) paths[Math.min(3, Math.floor(4 * bins[px] / (peak + 1)))] += "M" + px * 3 + " " + (y + 4) + "h3v10h-3z";
          paths.forEach(function (d, q) { if (d) el("path", {d: d, class: "tl-dense", "fill-opacity": 0.25 + 0.25 * q, "data-lane": name}, svg); });
        } else {
          var marks = {};
          for (var j2 = a; j2 < b; j2++) {
            var i2 = ix[j2], kind = D.kinds[D.ops[i2][2]].split(" ")[0];
            marks[kind] = (marks[kind] || "") + "M" + x(times[i2]).toFixed(1) + " " + (y + 3) + "h2v12h-2z";
          }
          for (var kd in marks) el("path", {d: marks[kd], fill: COLORS[kd] || "#333", class: "tl-mark", "data-lane": name}, svg);
        }
        var bad = "";
        for (var j3 = a; j3 < b; j3++) if (vio[ix[j3]]) bad += "M" + x(times[ix[j3]]).toFixed(1) + " " + (y + 9) + "m-4 -4l8 8m0 -8l-8 8";
        if (bad) el("path", {d: bad, class: "tl-vio", "data-lane": name}, svg);
      });
      var hl = {};
      hlOps.forEach(function (i) {
        if (times[i] < view.t0 || times[i] > view.t1) return;
        hl[laneOf[i]] = (hl[laneOf[i]] || "") + "M" + x(times[i]).toFixed(1) + " " + (laneY(laneOf[i]) + 9) + "m-5 0a5 5 0 1 0 10 0a5 5 0 1 0 -10 0";
      });
      for (var l2 in hl) el("path", {d: hl[l2], class: "hl", "data-lane": D.lanes[l2]}, svg);
    }
    var pending = false;
    function redraw() { if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; draw(); }); } }

    function nearest(px, py) {  // the op under the pointer: nearest in its lane, within 6 px
      var l = Math.floor((py - TOP) / LANE);
      if (l < 0 || l >= D.lanes.length || px < LEFT) return -1;
      var ix = byLane[l], t = tAt(px), j = lowerBound(ix, times, t), best = -1, dist = 6;
      [j - 1, j].forEach(function (c) { if (c >= 0 && c < ix.length) { var d = Math.abs(x(times[ix[c]]) - px); if (d <= dist) { dist = d; best = ix[c]; } } });
      return best;
    }
    function local(ev) { var r = svg.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; }
    function show(i, ev) {
      if (i < 0) { tip.hidden = true; return; }
      var r = record(i);
      tip.textContent = "#" + r.index + "  t=" + r.time + "  " + r.process + "  " + r.type + " " + r.f + "\n" + JSON.stringify(r.value, null, 1);
      tip.hidden = false;
      var box = root.getBoundingClientRect();
      tip.style.left = Math.min(ev.clientX - box.left + 12, box.width - 320) + "px";
      tip.style.top = (ev.clientY - box.top + 14) + "px";
    }
    function select(m, label) {
      selected = m; hlOps = [];
      if (m >= 0) for (var i = 0; i < n; i++) if (mentions(i, m)) hlOps.push(i);
      var lanesHit = {}; hlOps.forEach(function (i) { lanesHit[laneOf[i]] = 1; });
      status.textContent = m >= 0 ? "message " + D.strings[m] + ": " + hlOps.length + " ops in " + Object.keys(lanesHit).length + " lanes" + (label || "") : "";
      root.setAttribute("data-selected", m >= 0 ? D.strings[m] : "");
      draw();
    }
    function zoom(factor, center) {
      var t = center === undefined ? (view.t0 + view.t1) / 2 : center, span = Math.min(D.t_end * 1.05, Math.max(1e-6, (view.t1 - view.t0) * factor));
      var f = (t - view.t0) / (view.t1 - view.t0);
      view.t0 = t - f * span; view.t1 = view.t0 + span; redraw();
    }
    function jump(i) {
      var span = Math.max(Math.min(view.t1 - view.t0, D.t_end / 20), 1e-3);
      view.t0 = times[i] - span / 2; view.t1 = times[i] + span / 2;
      select(msgOf[i], " (jumped to op #" + i + ")");
      root.scrollIntoView({block: "nearest"});
    }
    svg.addEventListener("mousemove", function (ev) { if (!drag) { var p = local(ev); show(nearest(p[0], p[1]), ev); } });
    svg.addEventListener("mouseleave", function () { tip.hidden = true; });
    var drag = null, moved = false;
    svg.addEventListener("mousedown", function (ev) { drag = {x: ev.clientX, t0: view.t0, t1: view.t1}; moved = false; });
    window.addEventListener("mouseup", function () { drag = null; });
    window.addEventListener("mousemove", function (ev) {
      if (!drag) return;
      var dx = ev.clientX - drag.x; if (Math.abs(dx) > 2) moved = true;
      var dt = dx / (width - LEFT - 10) * (drag.t1 - drag.t0);
      view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt; redraw();
    });
    svg.addEventListener("click", function (ev) {
      if (moved) return;
      var p = local(ev), i = nearest(p[0], p[1]);
      select(i >= 0 ? msgOf[i] : -1);
    });
    svg.addEventListener("wheel", function (ev) { ev.preventDefault(); zoom(ev.deltaY > 0 ? 1.25 : 0.8, tAt(local(ev)[0])); }, {passive: false});
    root.querySelectorAll("button[data-act]").forEach(function (b) {
      b.addEventListener("click", function () {
        var act = b.getAttribute("data-act");
        if (act === "in") zoom(0.5); else if (act === "out") zoom(2);
        else if (act === "reset") { view.t0 = 0; view.t1 = D.t_end; select(-1); }
      });
    });
    root.querySelectorAll("a[data-op]").forEach(function (a) {
      a.addEventListener("click", function () { jump(+a.getAttribute("data-op")); });
    });
    function fromHash() {
      var m = /^#(.+)-op-(\d+)$/.exec(location.hash);
      if (m && m[1] === root.id && +m[2] < n) jump(+m[2]);
    }
    window.addEventListener("hashchange", fromHash);
    window.addEventListener("resize", redraw);
    draw();
    fromHash();
    root.setAttribute("data-ready", Math.round(performance.now()));  // ms since navigation began
    // for tests and the console: where op i is drawn, in page coordinates
    root.chatsim = {record: record, jump: jump, point: function (i) {
      var r = svg.getBoundingClientRect(); return {x: r.left + x(times[i]) + 1, y: r.top + laneY(laneOf[i]) + 9};
    }, view: view};
  }
  document.querySelectorAll(".tl").forEach(function (root) { Timeline(root); });
})();
