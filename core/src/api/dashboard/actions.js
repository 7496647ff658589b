// tandem dashboard, opt-in actions: only when /ui/settings.json says so
// ([api] dashboard_actions = true) does this add a token field and the
// switchover, promote, rejoin, pause and resume buttons; otherwise it adds
// nothing at all. The token lives in this script's memory only (never in
// storage, a cookie or the URL) and goes out as "Authorization: Bearer".
// Every failover action runs its dry run first and shows that report in a
// confirm dialog; only "Run it" sends the real request. Uses el() from
// dashboard.js (loaded before this file).
"use strict";

(() => {
  let token = "";
  let busy = false;

  const ACTIONS = [
    { kind: "switchover", label: "Switchover to this node", dry: true },
    { kind: "promote", label: "Promote this node", dry: true },
    { kind: "rejoin", label: "Rejoin", dry: true },
    { kind: "pause", label: "Pause", dry: false },
    { kind: "resume", label: "Resume", dry: false },
  ];

  // What pause and resume do: the API has no dry run for them (they move no
  // data), so the dialog says it in words.
  const NO_DRY_RUN = {
    pause: "pause: maintenance mode on this node. tandemd keeps syncing and monitoring every store, but " +
           "promote and switchover are refused (here and on the peer) unless forced, until resume. " +
           "It survives a restart. (No dry run: a pause moves no data.)",
    resume: "resume: leave maintenance mode; promote and switchover are allowed again. " +
            "(No dry run: a resume moves no data.)",
  };

  // The report as `tandemctl <kind> --dry-run` prints it (cli/failover_command.cpp,
  // print_report), so the dialog reads like the command an operator knows.
  function reportText(r) {
    const out = [];
    out.push((r.kind || "?") + " " + (r.id || "") + ": " + (r.result || "?") +
             (r.old_epoch !== undefined && r.new_epoch !== undefined ? " (epoch " + r.old_epoch + " -> " + r.new_epoch + ")" : ""));
    if (r.reason) out.push("  " + r.reason);
    if (typeof r.time_to_writable_ms === "number") out.push("  time until writable: " + ms(r.time_to_writable_ms));
    if (typeof r.total_ms === "number" && r.total_ms > 0) out.push("  total time: " + ms(r.total_ms));
    const loss = Object.entries(r.loss || {});
    if (loss.length) {
      out.push("  what may be lost, per store:");
      for (const [store, l] of loss) out.push("    " + store.padEnd(16) + " " + ((l && l.summary) || ""));
    }
    if (Array.isArray(r.plan) && r.result !== "succeeded") {
      out.push("  plan: " + r.plan.join(" "));
      for (const [store, plan] of Object.entries(r.store_plans || {}))
        if (typeof plan === "string" && plan) out.push("    " + store.padEnd(16) + " " + plan);
    }
    if (Array.isArray(r.steps) && (r.result === "succeeded" || r.result === "failed")) {
      out.push("  steps:");
      for (const s of r.steps)
        out.push("    " + (s.status === "done" ? "ok  " : s.status === "failed" ? "FAIL" : "    ") + " " +
                 (s.name || "").padEnd(22) + " " + (s.duration_ms ? ms(s.duration_ms) : "").padStart(9) + "  " +
                 (s.status === "failed" ? s.error || "" : s.summary || ""));
    }
    for (const h of r.hooks || [])
      out.push("    hook " + (h.hook || "") + ": " + (h.result || "") + (h.summary ? ": " + h.summary : ""));
    return out.join("\n");
  }

  // POST with the token; the answer's JSON (or its text) and status, never a throw.
  async function post(path, body) {
    try {
      const r = await fetch(path, {
        method: "POST", cache: "no-store", credentials: "omit",
        headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await r.text();
      let json = null;
      try { json = JSON.parse(text); } catch (e) { /* shown as text below */ }
      return { status: r.status, json, text };
    } catch (e) {
      return { status: 0, json: null, text: "this node did not answer: " + e.message };
    }
  }

  // What an answer says, for the dialog: the report, or why there is none.
  function answerText(kind, a) {
    if (a.status === 401 || a.status === 403)
      return kind + ": the token was refused (HTTP " + a.status + "): type this node's API token " +
             "(the contents of its [api] token_file)";
    if (a.json && a.json.result) return reportText(a.json);
    if (a.json && a.json.error) return kind + " (HTTP " + a.status + "): " + a.json.error;
    if (a.json && (kind === "pause" || kind === "resume"))
      return kind + ": done; maintenance " + (a.json.paused ? "paused" : "not paused") +
             (a.json.reason ? " (" + a.json.reason + ")" : "");
    return kind + " (HTTP " + a.status + "): " + a.text;
  }

  const dialog = el("dialog", { class: "confirm", "data-confirm": "" });
  const title = el("h2", {});
  const text = el("pre", { "data-confirm-text": "" });
  const reason = el("input", { type: "text", maxLength: 500, placeholder: "reason (optional)", "data-reason": "" });
  const run = el("button", { type: "button", class: "danger", "data-confirm-run": "" }, "Run it");
  const cancel = el("button", { type: "button", "data-confirm-cancel": "" }, "Cancel");
  dialog.append(title, text, reason, el("div", { class: "buttons" }, run, cancel));
  cancel.addEventListener("click", () => dialog.close());

  let pending = null;  // the action "Run it" would send
  run.addEventListener("click", async () => {
    if (!pending || busy) return;
    const { kind, body } = pending;
    pending = null;
    busy = true;
    run.hidden = true;
    reason.hidden = true;
    cancel.textContent = "Close";
    text.textContent = kind + ": running… (the page refreshes by itself; this waits for the answer)";
    dialog.dataset.state = "running";
    if (kind === "pause" && reason.value) body.reason = reason.value;
    const a = await post("/v1/" + kind, body);
    text.textContent = answerText(kind, a);
    dialog.dataset.state = a.status === 200 ? "done" : "failed";
    busy = false;
  });

  async function start(action) {
    if (busy) return;
    title.textContent = action.label;
    cancel.textContent = "Cancel";
    run.hidden = true;
    reason.hidden = action.kind !== "pause";
    reason.value = "";
    pending = null;
    if (!token) {
      text.textContent = "type this node's API token in the field first (the contents of its [api] token_file)";
      dialog.dataset.state = "no-token";
      return dialog.showModal();
    }
    if (!action.dry) {
      text.textContent = NO_DRY_RUN[action.kind];
      dialog.dataset.state = "confirm";
      pending = { kind: action.kind, body: {} };
      run.hidden = false;
      return dialog.showModal();
    }
    busy = true;
    text.textContent = action.kind + " --dry-run: asking this node…";
    dialog.dataset.state = "dry-run";
    dialog.showModal();
    const a = await post("/v1/" + action.kind, { dry_run: true });
    busy = false;
    text.textContent = answerText(action.kind, a);
    // Only a dry run that says it would go ahead can be confirmed; a refused
    // one would be refused for real too.
    if (a.status === 200 && a.json && a.json.result === "dry-run") {
      pending = { kind: action.kind, body: {} };
      run.hidden = false;
      dialog.dataset.state = "confirm";
    } else {
      dialog.dataset.state = "refused";
      cancel.textContent = "Close";
    }
  }

  function bar() {
    const field = el("input", { type: "password", autocomplete: "off", "data-token": "",
                                placeholder: "API token of this node" });
    field.addEventListener("input", () => { token = field.value.trim(); });
    return el("section", { class: "actions", ariaLabel: "actions on this node", "data-actions": "" },
      el("label", {}, "Token ", field),
      ACTIONS.map((a) => {
        const b = el("button", { type: "button", "data-action": a.kind }, a.label);
        b.addEventListener("click", () => start(a));
        return b;
      }),
      dialog);
  }

  fetch("/ui/settings.json", { cache: "no-store", credentials: "omit" })
    .then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({}))  // no settings: no actions, the page stays read-only
    .then((s) => {
      if (s.actions === true) document.querySelector("main").prepend(bar());
      document.body.dataset.actionsOffered = s.actions === true ? "yes" : "no";
    });
})();
