// The officer app: pairing, the live link, the alert cards, status, location, push and the
// offline action queue. Plain ES modules, no framework, no third-party code.

import { renderCard } from "./card.js";
import { watch } from "./geo.js";
import { Link } from "./link.js";
import { Store } from "./store.js";

const store = new Store();
const $ = (id) => document.getElementById(id);
let link = null;
let offset = 0; // server clock minus ours, seconds
let position = null;
let stopWatch = null;
const photos = new Map(); // "alertId:probe" -> blob URL (memory only)
const inflight = new Map(); // ref -> {alert_id, label}
const refusals = new Map(); // alert id -> last refusal text

const serverNow = () => Date.now() / 1000 + offset;

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

function show(section) {
  for (const id of ["pair", "ended", "home"]) $(id).hidden = id !== section;
  $("statusbar").hidden = section !== "home";
}

// ---- pairing ---------------------------------------------------------------------------

async function pair(code) {
  const msg = $("pair-msg");
  msg.textContent = "Pairing…";
  let r;
  try {
    r = await fetch("/api/pairing/exchange", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code }), cache: "no-store",
    });
  } catch (_e) {
    msg.textContent = "No connection to the Vigil server. Try again when online.";
    return;
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    msg.textContent = body.code === "pairing_invalid" ?
      "That code is unknown, already used or expired. Ask for a new one." :
      `Pairing failed (${body.code || r.status}).`;
    return;
  }
  store.clear();
  store.state.credential = { token: body.token, officer_id: body.officer_id,
    call_sign: body.call_sign };
  store.save();
  msg.textContent = "";
  start();
  setStatus("available"); // a newly paired phone starts on duty
}

function ended(why) {
  if (link) link.stop();
  link = null;
  if (stopWatch) stopWatch();
  stopWatch = null;
  for (const url of photos.values()) URL.revokeObjectURL(url);
  photos.clear();
  store.clear();
  $("ended-why").textContent = why;
  $("conn").textContent = "Not paired";
  $("callsign").textContent = "Vigil";
  show("ended");
  $("ended-title").focus();
}

// ---- the live link ---------------------------------------------------------------------

function start() {
  const cred = store.state.credential;
  $("callsign").textContent = cred.call_sign;
  show("home");
  render();
  link = new Link(cred.token, () => store.state.lastSeq, {
    welcome: (m) => {
      offset = m.server_time - Date.now() / 1000;
      // A server that never issued the seq we hold (its store was replaced): start over.
      if (m.last_seq < store.state.lastSeq) {
        store.state.lastSeq = 0;
        store.state.alerts = {};
        store.save();
      }
    },
    durable: handleDurable,
    result: handleResult,
    error: (m) => {
      if (!m.fatal) toast(m.message || m.code);
    },
    state: (name) => {
      $("conn").textContent = { online: "Online", offline: "Offline — actions are kept",
        connecting: "Connecting…" }[name];
      $("conn").dataset.state = name;
      if (name === "online") onOnline();
    },
    final: (code) => {
      ended(code === 4010 ? "Vigil was opened with this account on another device." :
        "This phone's access was withdrawn (unpaired or revoked).");
    },
  });
  link.start();
}

function onOnline() {
  // Queued actions go in the order they were taken (a queued status included); the server
  // sets busy/available itself on accept/resolve, so the status is not re-sent blindly.
  if (position && onDuty()) link.send({ type: "position", ...position });
  flush();
}

function handleDurable(m) {
  switch (m.type) {
    case "alert_raised":
      store.putAlert(m.alert, m.route || "nearby");
      notify(m.alert);
      break;
    case "alert_assigned":
      store.putAlert(m.alert, "assigned");
      notify(m.alert);
      break;
    case "alert_updated":
      store.putAlert(m.alert);
      if (["resolved", "dismissed"].includes(m.alert.state)) store.dropAlert(m.alert.id);
      break;
    case "alert_withdrawn":
      store.dropAlert(m.alert_id);
      toast(`An alert was withdrawn (${m.reason}).`);
      break;
    default:
      break;
  }
  store.state.lastSeq = Math.max(store.state.lastSeq, m.seq);
  store.save();
  render();
}

function notify(alert) {
  if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
  if (document.visibilityState !== "visible" && "Notification" in window &&
      Notification.permission === "granted") {
    navigator.serviceWorker?.ready.then((r) => r.showNotification(
      "Vigil: an alert is waiting", { tag: "vigil-alert", body: "Open Vigil to see it." }));
  }
  void alert;
}

// ---- actions and the offline queue -----------------------------------------------------

const LABELS = { accept: "Accept", decline: "Decline", resolve: "Resolve",
  status: "Status change" };

function enqueue(message) {
  const ref = store.ref();
  const m = { ...message, ref };
  store.state.queue.push({ ref, message: m, label: LABELS[message.type] });
  store.save();
  flush();
  render();
}

function flush() {
  if (!link) return;
  for (const q of store.state.queue) {
    if (inflight.has(q.ref)) continue;
    const { ref: _r, ...bare } = q.message;
    const wire = q.message.type === "status" ? bare : q.message;
    if (!link.send(wire)) break;
    if (q.message.type === "status") {
      // status has no result: it is done once sent on a live socket
      store.state.queue = store.state.queue.filter((x) => x.ref !== q.ref);
      store.save();
      continue;
    }
    inflight.set(q.ref, q);
    setTimeout(() => {
      if (inflight.get(q.ref) === q) inflight.delete(q.ref); // resent on the next flush
    }, 10000);
  }
  renderQueue();
}

function handleResult(m) {
  const q = inflight.get(m.ref);
  inflight.delete(m.ref);
  store.state.queue = store.state.queue.filter((x) => x.ref !== m.ref);
  store.save();
  if (!m.ok) {
    refusals.set(m.alert_id, `${q ? q.label : "Action"} refused: ${m.message || m.code}`);
    toast(refusals.get(m.alert_id));
  } else if (q && q.message.type === "accept") {
    store.state.status = "busy";
  } else if (q && q.message.type === "resolve") {
    store.state.status = "available";
  }
  store.save();
  render();
}

function act(kind, alert, extra = {}) {
  refusals.delete(alert.id);
  if (kind === "hide") {
    store.dropAlert(alert.id);
    store.save();
    render();
    return;
  }
  if (kind === "accept") enqueue({ type: "accept", alert_id: alert.id });
  if (kind === "decline") {
    enqueue({ type: "decline", alert_id: alert.id, reason: extra.reason });
  }
  if (kind === "resolve") {
    enqueue({ type: "resolve", alert_id: alert.id, outcome: extra.outcome, note: extra.note });
  }
}

// ---- status and location ---------------------------------------------------------------

const onDuty = () => store.state.status !== "off_duty";

function setStatus(status) {
  store.state.status = status;
  store.save();
  sendStatus();
  if (status === "off_duty") {
    if (stopWatch) stopWatch();
    stopWatch = null;
    $("share-msg").textContent = "Off duty: your location is not shared.";
  } else if (store.state.sharing) {
    startSharing();
  }
  renderStatus();
}

function sendStatus() {
  store.state.queue = store.state.queue.filter((q) => q.message.type !== "status");
  enqueue({ type: "status", status: store.state.status });
}

function stopSharing() {
  store.state.sharing = false;
  store.save();
  if (stopWatch) stopWatch();
  stopWatch = null;
  position = null;
  $("share-msg").textContent = "Not sharing your location.";
  $("share-go").textContent = "Share my location on duty";
  render();
}

function startSharing() {
  store.state.sharing = true;
  store.save();
  $("share-go").textContent = "Stop sharing my location";
  if (stopWatch || !onDuty()) return;
  $("share-msg").textContent = "Finding your location…";
  stopWatch = watch((p) => {
    position = p;
    $("share-msg").textContent = `Sharing while on duty (± ${Math.round(p.accuracy_m)} m).`;
    if (onDuty() && link) link.send({ type: "position", ...p });
    render();
  }, (err) => {
    $("share-msg").textContent = err;
    stopWatch = null;
  });
}

// ---- push ------------------------------------------------------------------------------

async function enablePush() {
  const msg = $("push-msg");
  try {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      msg.textContent = "This browser cannot receive notifications.";
      return;
    }
    if (await Notification.requestPermission() !== "granted") {
      msg.textContent = "Notifications were not allowed.";
      return;
    }
    const auth = { Authorization: `Bearer ${store.state.credential.token}` };
    const key = await (await fetch("/api/push/key", { headers: auth })).json();
    const reg = await navigator.serviceWorker.ready;
    const sub = await reg.pushManager.subscribe({ userVisibleOnly: true,
      applicationServerKey: key.public_key });
    const r = await fetch("/api/push/subscriptions", { method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify(sub.toJSON()) });
    msg.textContent = r.ok ? "Notifications are on." : "The server refused the subscription.";
  } catch (_e) {
    msg.textContent = "Notifications could not be turned on here.";
  }
}

// ---- rendering -------------------------------------------------------------------------

function pendingFor(id) {
  const q = store.state.queue.find((x) => x.message.alert_id === id);
  if (!q) return null;
  return link && link.live ? `${q.label}: sending…` :
    `${q.label}: kept on this phone, sent when back online.`;
}

function order(a) {
  const mine = a.assigned_officer_id === store.state.credential?.officer_id;
  return (mine ? 0 : 1) * 1e12 - a.first_seen;
}

// Alerts raised before this phone shared its location (or came on duty) are not routed to it:
// say what will appear, so an empty screen is not mistaken for a quiet deployment.
const EMPTY = "No alerts for you. New alerts near you (while you share your location) and " +
  "alerts a dispatcher assigns to you appear here.";

function render() {
  if (!store.paired) return;
  const box = $("alerts");
  const focused = document.activeElement?.closest?.("[data-alert]")?.dataset.alert;
  const alerts = Object.values(store.state.alerts).sort((a, b) => order(a) - order(b));
  box.replaceChildren();
  if (!alerts.length) {
    box.append(Object.assign(document.createElement("p"),
      { className: "empty", id: "empty", textContent: EMPTY }));
  }
  for (const a of alerts) {
    const card = renderCard(a, { me: store.state.credential.officer_id, position,
      now: serverNow(), pending: pendingFor(a.id) || refusals.get(a.id) || null,
      route: store.state.route[a.id], act });
    box.append(card);
    for (const img of card.querySelectorAll("img[data-photo]")) loadPhoto(img, a);
  }
  if (focused) document.getElementById(`alert-${focused}`)?.focus();
  renderStatus();
  renderQueue();
}

function renderQueue() {
  const n = store.state.queue.filter((q) => q.message.type !== "status").length;
  $("queue").hidden = n === 0 || (link && link.live);
  $("queue").textContent = `${n} action${n === 1 ? "" : "s"} kept on this phone; ` +
    "sent when back online.";
}

function renderStatus() {
  for (const b of document.querySelectorAll("[data-status]")) {
    b.setAttribute("aria-pressed", String(b.dataset.status === store.state.status));
  }
}

async function loadPhoto(img, alert) {
  const key = img.dataset.photo;
  if (photos.has(key)) {
    img.src = photos.get(key);
    return;
  }
  const url = key.endsWith(":probe") ? alert.probe_url : alert.reference_url;
  if (!url || !store.paired) return;
  try {
    const r = await fetch(url, { cache: "no-store",
      headers: { Authorization: `Bearer ${store.state.credential.token}` } });
    if (!r.ok) return;
    const blob = URL.createObjectURL(await r.blob());
    photos.set(key, blob);
    for (const same of document.querySelectorAll(`img[data-photo="${CSS.escape(key)}"]`)) {
      same.src = blob;
    }
  } catch (_e) {
    // offline: the card still shows everything else; the photo loads when back online
  }
}

// ---- start-up --------------------------------------------------------------------------

function boot() {
  for (const b of document.querySelectorAll("[data-status]")) {
    b.addEventListener("click", () => setStatus(b.dataset.status));
  }
  $("pair-go").addEventListener("click", () => pair($("code").value));
  $("code").addEventListener("keydown", (e) => { if (e.key === "Enter") pair($("code").value); });
  $("pair-again").addEventListener("click", () => show("pair"));
  $("share-go").addEventListener("click", () => {
    if (store.state.sharing) stopSharing();
    else startSharing();
  });
  $("push-go").addEventListener("click", () => enablePush());
  $("unpair").addEventListener("click", async () => {
    const cred = store.state.credential;
    if (!cred || !confirm("Unpair this phone? You will need a new pairing code.")) return;
    await fetch("/api/pairing/unpair", { method: "POST", headers: {
      Authorization: `Bearer ${cred.token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ officer_id: cred.officer_id }) }).catch(() => null);
    ended("You unpaired this phone.");
  });
  setInterval(() => { if (store.paired && !document.hidden) render(); }, 15000);

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js", { scope: "/officer/" }).catch(() => null);
  }
  // A pairing link carries the code in the fragment: take it, then wipe it from the address
  // bar and the history so it is never shown or reused.
  const m = location.hash.match(/pair=([A-Za-z0-9-]+)/);
  if (m) {
    history.replaceState(null, "", location.pathname);
    show("pair");
    $("code").value = m[1];
    pair(m[1]);
    return;
  }
  if (store.paired) {
    start();
    if (store.state.sharing) startSharing();
  } else {
    show("pair");
  }
}

boot();
