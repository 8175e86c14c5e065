// auditseal admin UI: plain browser JavaScript, no build step. Every value from the API is
// shown with textContent (never as HTML). The token lives in sessionStorage only.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem("auditseal-token"), tenant: null, cursor: null, query: null };

async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) url.searchParams.set(k, v);
  const resp = await fetch(url, { headers: { Authorization: `Bearer ${state.token}` } });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(`${resp.status}: ${body.error || resp.statusText}`);
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function get(doc, path) {
  return path.split(".").reduce((n, k) => (n && typeof n === "object" ? n[k] : undefined), doc);
}

function showError(err) { $("#error").textContent = err ? String(err.message || err) : ""; }

async function signIn(token) {
  state.token = token;
  const me = await api("/v1/whoami");
  sessionStorage.setItem("auditseal-token", token);
  $("#who").textContent = `${me.name} (${me.roles.join(", ")})`;
  const { tenants } = await api("/v1/tenants");
  const select = $("#tenant");
  select.replaceChildren(...tenants.map((t) => new Option(t, t)));
  state.tenant = tenants[0] || null;
  $("#tenant-box").hidden = false;
  $("#sign-out").hidden = false;
  $("#sign-in").hidden = true;
  $("#app").hidden = false;
}

function signOut() {
  sessionStorage.removeItem("auditseal-token");
  location.reload();
}

function utc(value) { return value ? `${value}${value.length === 16 ? ":00" : ""}Z` : ""; }

async function search(more) {
  showError();
  if (!more) {
    const form = new FormData($("#search-form"));
    const q = { tenant: state.tenant, limit: 50 };
    for (const [k, v] of form.entries()) if (v) q[k] = k === "since" || k === "until" ? utc(v) : v;
    state.query = q;
    state.cursor = null;
    $("#results tbody").replaceChildren();
    $("#event").hidden = true;
  }
  const page = await api("/v1/events", { ...state.query, cursor: state.cursor });
  const body = $("#results tbody");
  for (const doc of page.events) {
    const tr = document.createElement("tr");
    tr.dataset.id = doc.event.id;
    cell(tr, doc["@timestamp"]);
    cell(tr, get(doc, "event.action"));
    cell(tr, get(doc, "event.outcome"));
    cell(tr, get(doc, "user.name") || get(doc, "user.id"));
    cell(tr, get(doc, "source.ip"));
    cell(tr, get(doc, "host.name"));
    cell(tr, doc.message, "msg");
    tr.addEventListener("click", () => openEvent(doc).catch(showError));
    body.appendChild(tr);
  }
  state.cursor = page.next_cursor;
  $("#more").hidden = !state.cursor;
  const shown = body.children.length;
  const { limit, order, ...filters } = state.query; // a count takes the filters alone
  const { count } = await api("/v1/events/count", filters);
  $("#search-status").textContent = `${shown} of ${count} matching events shown`;
}

// --- integrity: the inclusion proof checked here, in the browser, against the signed checkpoint
const enc = new TextEncoder();
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
async function sha256(...parts) {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
}
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// RFC 9162 section 2.1.3.2
async function rootFromPath(leaf, index, size, path) {
  let fn = index, sn = size - 1, r = await sha256(Uint8Array.of(0), leaf);
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await sha256(Uint8Array.of(1), r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

// C2SP signed note, Ed25519; key "<name>+<hex id>+<base64(0x01 || public key)>"
async function noteSigned(note, verifierKeys) {
  const cut = note.lastIndexOf("\n\n");
  const text = note.slice(0, cut + 1);
  for (const line of note.slice(cut + 2).split("\n")) {
    const m = line.match(/^\u2014 (\S+) (\S+)$/);
    if (!m) continue;
    for (const vkey of verifierKeys) {
      // the name and id end at the first two "+"; the base64 key may hold "+" itself
      const [name, id] = vkey.split("+", 2);
      const key = vkey.slice(name.length + id.length + 2);
      const sig = b64(m[2]);
      const raw = b64(key);
      if (name !== m[1] || raw[0] !== 1) continue;
      const hexId = Array.from(sig.slice(0, 4), (x) => x.toString(16).padStart(2, "0")).join("");
      if (hexId !== id) continue;
      try {
        const pub = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
        if (await crypto.subtle.verify({ name: "Ed25519" }, pub, sig.slice(4), enc.encode(text))) return name;
      } catch (e) {
        return null;
      }
    }
  }
  return null;
}

async function openEvent(doc) {
  $("#event").hidden = false;
  $("#event-id").textContent = doc.event.id;
  $("#event-json").textContent = JSON.stringify(doc, null, 2);
  const status = $("#integrity");
  status.className = "";
  status.textContent = "checking the inclusion proof…";
  let bundle;
  try {
    bundle = await api("/v1/proof", { tenant: state.tenant, event_id: doc.event.id });
  } catch (err) {
    status.textContent = `not provable yet: ${err.message}`;
    return;
  }
  const lines = bundle.checkpoint.split("\n");
  const size = Number(lines[1]);
  const root = b64(lines[2]);
  const got = await rootFromPath(enc.encode(bundle.event), bundle.leaf_index, bundle.tree_size, bundle.proof.map(b64));
  const { verifier_keys: keys } = await api("/v1/checkpoints", { tenant: state.tenant });
  const signer = await noteSigned(bundle.checkpoint, keys || []);
  const sameEvent = JSON.stringify(JSON.parse(bundle.event)) === JSON.stringify(doc);
  const ok = got && same(got, root) && size === bundle.tree_size && signer && sameEvent;
  status.className = ok ? "ok" : "bad";
  status.textContent = ok
    ? `verified: leaf ${bundle.leaf_index} of ${bundle.log} (tree of ${size}), checkpoint signed by ${signer}`
    : `NOT verified: path ${got && same(got, root) ? "ok" : "fails"}, signature ${signer ? "ok" : "fails"}, ` +
      `event ${sameEvent ? "matches" : "differs from the index"}`;
}

async function showAlerts() {
  const { alerts } = await api("/v1/alerts", { tenant: state.tenant, limit: 100 });
  const body = $("#alerts tbody");
  body.replaceChildren();
  for (const a of alerts) {
    const tr = document.createElement("tr");
    cell(tr, a.created); cell(tr, a.rule); cell(tr, (a.details || {}).severity); cell(tr, a.summary, "msg");
    cell(tr, Object.entries(a.deliveries || {}).map(([c, d]) => `${c}: ${d.state}`).join(", "));
    body.appendChild(tr);
  }
}

async function showAgents() {
  const { agents } = await api("/v1/agents", { tenant: state.tenant });
  const body = $("#agents tbody");
  body.replaceChildren();
  for (const a of agents) {
    const tr = document.createElement("tr");
    cell(tr, a.agent); cell(tr, a.events); cell(tr, a.last_sequence); cell(tr, a.last_event_at);
    cell(tr, a.gaps.length ? a.gaps.map((g) => `${g.first}-${g.last}${g.declared ? " (declared)" : ""}`).join(", ") : "none");
    body.appendChild(tr);
  }
}

async function showCheckpoints() {
  const { logs } = await api("/v1/checkpoints", { tenant: state.tenant });
  const body = $("#checkpoints tbody");
  body.replaceChildren();
  for (const l of logs) {
    const tr = document.createElement("tr");
    cell(tr, l.log); cell(tr, l.size ?? l.error); cell(tr, l.origin);
    const v = l.verification;
    cell(tr, v ? `${v.ok ? "ok" : "FINDINGS: " + v.findings.join("; ")} (${v.at || "?"})` : "not verified since start");
    body.appendChild(tr);
  }
}

const tabs = { search: () => {}, alerts: showAlerts, agents: showAgents, checkpoints: showCheckpoints };

document.addEventListener("DOMContentLoaded", () => {
  $("#sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    $("#sign-in-error").textContent = "";
    signIn($("#token").value.trim()).catch((err) => { $("#sign-in-error").textContent = err.message; });
  });
  $("#sign-out").addEventListener("click", signOut);
  $("#tenant").addEventListener("change", (e) => { state.tenant = e.target.value; });
  $("#search-form").addEventListener("submit", (e) => { e.preventDefault(); search(false).catch(showError); });
  $("#more").addEventListener("click", () => search(true).catch(showError));
  for (const b of document.querySelectorAll("nav button")) {
    b.addEventListener("click", () => {
      for (const o of document.querySelectorAll("nav button")) o.classList.toggle("active", o === b);
      for (const s of document.querySelectorAll(".tab")) s.hidden = s.id !== `tab-${b.dataset.tab}`;
      showError();
      tabs[b.dataset.tab]().catch(showError);
    });
  }
  if (state.token) signIn(state.token).catch(() => sessionStorage.removeItem("auditseal-token"));
});
