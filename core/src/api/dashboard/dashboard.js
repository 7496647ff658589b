// tandem dashboard: polls this node's own read endpoints (/v1/status,
// /v1/history, /v1/history/samples) and redraws. Everything shown comes from those answers;
// the peer's card is what this node last heard from the peer, so the page
// never talks to any other host. Text goes in with textContent only.
"use strict";

const REFRESH_MS = 2000;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 1) return "just now";
  if (s < 120) return Math.round(s) + " s ago";
  if (s < 7200) return Math.round(s / 60) + " min ago";
  return new Date(iso).toLocaleString();
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

function seconds(s) {
  if (s === null || s === undefined) return "–";
  return s < 10 ? s.toFixed(2) + " s" : Math.round(s) + " s";
}

function ms(v) { return v === null || v === undefined ? "–" : v < 1000 ? Math.round(v) + " ms" : (v / 1000).toFixed(2) + " s"; }

function roleTag(role, fenced) {
  const r = role || "unknown";
  return [el("span", { class: "tag role-" + r, "data-role-tag": r }, r),
          fenced ? el("span", { class: "tag bad" }, "fenced") : null];
}

// <details> the reader opened stay open across redraws (every refresh
// rebuilds the DOM): keyed by what they show.
const openKeys = new Set();
document.addEventListener("toggle", (e) => {
  const key = e.target.dataset && e.target.dataset.key;
  if (!key) return;
  if (e.target.open) openKeys.add(key); else openKeys.delete(key);
}, true);

function foldable(key, summary, ...content) {
  return el("details", { "data-key": key, open: openKeys.has(key) }, el("summary", {}, summary), ...content);
}

// The details a reader looks for first (KV journal depth and divergence,
// what a takeover discarded) stay in sight; other scalar members fold away.
// Nested objects are left to /v1/stores/<name>.
const PROMINENT = ["journal_depth", "keys_differing", "discarded_journal_records", "superseded_writes_discarded",
                   "lag_increasing"];

function detailsView(key, details) {
  const shown = [];
  const rest = [];
  for (const [k, v] of Object.entries(details || {})) {
    if (k === "progress" || v === null || typeof v === "object") continue;
    (PROMINENT.includes(k) ? shown : rest).push(k + ": " + v);
  }
  return [shown.length ? el("div", { class: "details" }, shown.join(" · ")) : null,
          rest.length ? el("div", { class: "details" }, foldable(key, rest.length + " more", rest.join(" · "))) : null];
}

function progressBar(p) {
  if (!p || typeof p !== "object" || !p.total) return null;
  const pct = Math.min(100, Math.floor((100 * p.done) / p.total));
  const eta = p.eta_seconds !== undefined && p.eta_seconds !== null ? ", eta " + seconds(p.eta_seconds) : "";
  return el("div", {},
    el("progress", { max: p.total, value: p.done, "data-progress": pct }),
    el("div", { class: "details" }, pct + "% (" + p.done + "/" + p.total + eta + ")"));
}

// This node's samples (GET /v1/history/samples), kept in page memory: the
// first poll reads the whole ring, each later one only what is newer (?since=).
const samples = { stores: {}, last: null, capacity: 360, interval: 10, now: 0 };

function mergeSamples(h) {
  samples.capacity = h.capacity || samples.capacity;
  samples.interval = h.interval_seconds || samples.interval;
  samples.now = h.now || samples.now;
  for (const [name, points] of Object.entries(h.stores || {})) {
    samples.stores[name] = (samples.stores[name] || []).concat(points).slice(-samples.capacity);
    for (const p of points) samples.last = samples.last === null ? p.t : Math.max(samples.last, p.t);
  }
}

// The SVG namespace as the HTML parser assigns it: the page's files hold no
// absolute URL at all (the dashboard test checks), not even this one.
const SVG_NS = (() => { const d = document.createElement("div"); d.innerHTML = "<svg></svg>"; return d.firstChild.namespaceURI; })();
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) if (c) e.append(c);
  return e;
}

function span(secs) {
  return secs >= 5400 ? Math.round(secs / 3600) + " h" : secs >= 120 ? Math.round(secs / 60) + " min" : Math.round(secs) + " s";
}

// A store's lag over the time the ring covers (an hour by default), as an
// inline SVG: a line of lag bytes (or seconds, when the store measures only
// those) over a strip coloured by health status. Breaks the line where
// samples are missing (tandemd was down). null before the first sample.
function lagChart(name) {
  const points = samples.stores[name] || [];
  if (!points.length) return null;
  const W = 240, H = 40, STRIP = 5;
  // From the oldest sample held (at most the ring's span ago) to now, so a
  // node up for minutes shows those minutes, not a sliver of an empty hour.
  const end = Math.max(samples.now, points[points.length - 1].t);
  const start = Math.max(end - samples.capacity * samples.interval, points[0].t);
  const covered = Math.max(end - start, 10 * samples.interval);
  const x = (t) => (W * (t - (end - covered))) / covered;
  const key = points.some((p) => p.lag_bytes !== null) ? "lag_bytes" : "lag_seconds";
  const measured = points.filter((p) => p[key] !== null && p[key] !== undefined);
  const max = Math.max(0, ...measured.map((p) => p[key]));
  const y = (v) => (H - STRIP - 2) - (max > 0 ? ((H - STRIP - 5) * v) / max : 0);
  const slot = Math.max(1, (W * samples.interval) / covered);  // one sample's width
  const strip = points.map((p) => svg("rect", { x: x(p.t).toFixed(1), y: H - STRIP, width: slot.toFixed(1),
                                                height: STRIP, class: "chart-" + p.status }));
  const lines = [];
  let run = [];
  for (const p of measured) {
    if (run.length && p.t - run[run.length - 1].t > 2.5 * samples.interval) { lines.push(run); run = []; }
    run.push(p);
  }
  if (run.length) lines.push(run);
  const drawn = lines.map((r) => r.length === 1
    ? svg("circle", { cx: x(r[0].t).toFixed(1), cy: y(r[0][key]).toFixed(1), r: 1.8, class: "chart-dot" })
    : svg("polyline", { points: r.map((p) => x(p.t).toFixed(1) + "," + y(p[key]).toFixed(1)).join(" "),
                        class: "chart-line" }));
  const fmt = key === "lag_bytes" ? bytes : seconds;
  const last = "last " + span(covered);
  const caption = measured.length ? "max " + fmt(max) + " in the " + last : "lag not measured · " + last;
  const label = name + ": lag over the " + last + ", " + points.length + " samples, " + caption;
  return el("figure", { class: "chart" },
    svg("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img", "aria-label": label,
                 "data-chart": name, "data-points": String(points.length), "data-lines": String(drawn.length) },
      svg("title", {}, document.createTextNode(label)),
      svg("rect", { x: 0, y: 0, width: W, height: H - STRIP, class: "chart-bg" }), ...strip, ...drawn),
    el("figcaption", { class: "details" }, caption));
}

function storesTable(node, stores, charts) {
  if (!stores || !stores.length) return el("p", { class: "muted" }, "no stores");
  const rows = stores.map((s) => {
    const h = s.health || {};
    const sync = s.sync || {};
    const status = h.status || "unknown";
    const lag = [h.lag_bytes !== null && h.lag_bytes !== undefined ? bytes(h.lag_bytes) : null,
                 h.lag_seconds !== null && h.lag_seconds !== undefined ? seconds(h.lag_seconds) : null]
      .filter(Boolean).join(" / ") || "–";
    const lastSync = sync.in_progress ? "running…" : ago(sync.last_success);
    return el("tr", { "data-store": s.name, "data-health": status },
      el("td", {}, el("strong", {}, s.name)),
      el("td", {}, s.plugin || ""),
      el("td", {}, el("span", { class: "health health-" + status }, status),
        s.state && s.state !== "running" ? el("div", { class: "details" }, s.state) : null),
      el("td", { class: "num lag", "data-label": "lag" }, lag, charts ? lagChart(s.name) : null),
      el("td", { class: "num", "data-label": "synced", title: sync.last_success || "" }, lastSync,
        sync.failures ? el("div", { class: "details bad" }, sync.failures + " failed") : null),
      el("td", {}, h.summary || "", progressBar((h.details || {}).progress),
        s.start_error ? el("div", { class: "details bad" }, s.start_error) : null,
        sync.last_error ? el("div", { class: "details bad" }, "last sync: " + sync.last_error) : null,
        detailsView(node + "/" + s.name, h.details)));
  });
  return el("div", { class: "table" }, el("table", {},
    el("thead", {}, el("tr", {}, ["Store", "Plugin", "Health", "Lag", "Last sync", "Summary"].map((t) => el("th", {}, t)))),
    el("tbody", {}, rows)));
}

function failoverText(f) {
  if (!f || f.mode !== "automatic") return "manual";
  const parts = ["automatic", f.leader ? "leader " + f.leader : "no leader"];
  if (f.dcs && f.dcs.healthy === false) parts.push("etcd unreachable");
  return parts.join(", ");
}

function selfCard(st) {
  const m = st.maintenance || {};
  return el("article", { class: "node", "data-node": st.node.name, "data-role": st.role, "data-fenced": String(!!st.fenced) },
    el("h2", {}, st.node.name, roleTag(st.role, st.fenced), el("span", { class: "muted" }, "this node")),
    el("dl", {},
      el("dt", {}, "Epoch"), el("dd", {}, st.epoch),
      el("dt", {}, "Address"), el("dd", {}, st.node.address),
      el("dt", {}, "Reachable"), el("dd", { class: "good" }, "yes (serves this page)"),
      st.fenced ? [el("dt", {}, "Fenced"), el("dd", { class: "bad" }, st.fenced_reason || "yes")] : null,
      el("dt", {}, "Maintenance"), el("dd", { class: m.paused ? "warn" : "" },
        m.paused ? "paused " + ago(m.since) + (m.reason ? ": " + m.reason : "") : "no"),
      el("dt", {}, "Failover"), el("dd", {}, failoverText(st.failover),
        st.failover && st.failover.decision ? el("div", { class: "details" }, st.failover.decision) : null)),
    storesTable(st.node.name, st.stores, true));
}

function peerCard(p) {
  const known = p.role !== null && p.role !== undefined;
  const stale = !p.reachable;
  return el("article", { class: "node" + (stale ? " stale" : ""), "data-node": p.name, "data-role": p.role || "unknown",
                         "data-reachable": String(!!p.reachable), "data-fenced": String(!!p.fenced) },
    el("h2", {}, p.name, roleTag(p.role, p.fenced), el("span", { class: "muted" }, "peer")),
    el("dl", {},
      el("dt", {}, "Epoch"), el("dd", {}, known ? p.epoch : "–"),
      el("dt", {}, "Address"), el("dd", {}, p.address, p.api_url ? el("div", { class: "details" }, p.api_url) : null),
      el("dt", {}, "Reachable"), el("dd", { class: p.reachable ? "good" : "bad" },
        p.reachable ? "yes, last answer " + ago(p.last_seen) : "no: " + (p.last_error || "not answering"),
        !p.reachable && p.last_seen ? el("div", { class: "details" }, "last answer " + ago(p.last_seen) + "; stores as of then") : null),
      el("dt", {}, "Maintenance"), el("dd", { class: p.paused ? "warn" : "" }, p.paused ? "paused" : "no")),
    known ? storesTable(p.name, p.stores) : el("p", { class: "muted" }, "the peer has not answered yet"));
}

function pairState(st) {
  const p = st.peer || {};
  const roles = [st.role, p.role];
  if (st.fenced || p.fenced) return ["a node is fenced", "bad"];
  if (!p.reachable) return ["peer unreachable", "bad"];
  if (roles.filter((r) => r === "primary").length > 1) return ["two primaries", "bad"];
  if (!roles.includes("primary")) return ["no primary", "bad"];
  if (!roles.includes("secondary")) return ["no standby", "warn"];
  return ["pair healthy: one primary, one standby", "good"];
}

function reportView(r) {
  const loss = Object.entries(r.loss || {}).map(([store, l]) => store + ": " + (l && l.summary ? l.summary : "?")).join("; ");
  const when = r.started_at_ms ? new Date(r.started_at_ms).toLocaleString() : "";
  const key = "report/" + (r.id || "");
  return el("details", { class: "report", "data-report": r.id || "", "data-key": key, open: openKeys.has(key) },
    el("summary", {}, el("strong", {}, r.kind || "?"), " ",
      el("span", { class: r.result === "succeeded" ? "good" : r.result === "failed" ? "bad" : "warn" }, r.result || "?"),
      " · ", when,
      r.old_epoch !== undefined ? " · epoch " + r.old_epoch + " → " + r.new_epoch : "",
      r.time_to_writable_ms !== undefined && r.time_to_writable_ms !== null ? " · writable after " + ms(r.time_to_writable_ms) : "",
      " · total " + ms(r.total_ms)),
    r.reason ? el("div", { class: "details" }, r.reason) : null,
    el("div", {}, "Loss: " + (loss || "none reported")),
    el("ol", {}, (r.steps || []).map((s) => el("li", {},
      s.name + " — " + s.status + " in " + ms(s.duration_ms) + (s.summary ? ": " + s.summary : ""),
      s.error ? el("span", { class: "bad" }, " " + s.error) : null))));
}

function renderHistory(h) {
  const list = (h.history || []).slice(-10).reverse();
  document.getElementById("history").replaceChildren(
    list.length ? el("div", {}, list.map(reportView)) : el("p", { class: "muted" }, "no failover yet"));
  document.getElementById("in-progress").replaceChildren(
    h.in_progress ? el("p", { class: "warn" }, "in progress: " + (h.in_progress.kind || h.in_progress.error || "an operation")) : "");
}

function render(st) {
  const cards = [selfCard(st), peerCard(st.peer || {})];
  // Stable order by name: the cards do not swap places on a switchover.
  cards.sort((a, b) => a.dataset.node.localeCompare(b.dataset.node));
  document.getElementById("nodes").replaceChildren(...cards);
  const [text, cls] = pairState(st);
  const ps = document.getElementById("pair-state");
  ps.textContent = text;
  ps.className = cls;
  document.title = "tandem · " + st.node.name + " · " + text;
}

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store", credentials: "omit" });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

async function refresh() {
  const banner = document.getElementById("banner");
  try {
    const since = samples.last === null ? "" : "?since=" + (samples.last + 1);
    const [st, h, hs] = await Promise.all([getJson("/v1/status"), getJson("/v1/history"),
                                          getJson("/v1/history/samples" + since)]);
    mergeSamples(hs);
    render(st);
    renderHistory(h);
    banner.hidden = true;
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  } catch (e) {
    banner.textContent = "this node is not answering (" + e.message + "); showing the last answer";
    banner.hidden = false;
    for (const c of document.querySelectorAll(".node")) c.classList.add("stale");
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
