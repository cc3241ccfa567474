// The alert card: probe and reference photo side by side, similarity against threshold,
// category, reason, place and camera with distance and bearing, time since first seen, the
// notice, the dispatcher's notes and the officer's actions. Built with textContent only:
// nothing from the server is ever parsed as HTML.

import { describe } from "./geo.js";

export const CATEGORIES = {
  wanted_serious_crime: "Wanted: serious crime",
  suspect_serious_crime: "Suspect: serious crime",
  missing_person: "Missing person",
  victim: "Victim",
  risk_to_self_or_others: "Risk to self or others",
};

export const OUTCOMES = [
  ["confirmed_match", "Confirmed match"],
  ["not_the_person", "Not the person"],
  ["not_located", "Not located"],
  ["outdated_entry", "Outdated entry"],
];

export const DECLINE_REASONS = [
  "On another call",
  "Too far away",
  "Need back-up first",
];

const STATES = {
  new: "Nearby — not assigned",
  assigned: "Assigned to you",
  accepted: "Accepted — check in person",
  resolved: "Resolved",
  dismissed: "Dismissed",
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

export function ago(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
}

function photo(label, id, alt) {
  const img = el("img", { class: "photo", alt, "data-photo": id });
  return el("figure", { class: "shot" }, img, el("figcaption", { text: label }));
}

/**
 * @param {object} a the AlertView
 * @param {object} ctx {me: officer id, position, now: server-time seconds, pending: label|null,
 *   route, act(kind, alert, extra)}
 */
export function renderCard(a, ctx) {
  const mine = a.assigned_officer_id === ctx.me;
  const card = el("article", { class: `card state-${a.state}`, id: `alert-${a.id}`,
    "aria-labelledby": `t-${a.id}`, "data-alert": a.id, tabindex: "-1" });

  card.append(el("p", { class: "badge", text: mine || a.state !== "assigned" ?
    STATES[a.state] : "Assigned to another officer" }));
  card.append(el("h2", { id: `t-${a.id}`, class: "who" },
    el("span", { class: "cat", text: CATEGORIES[a.category] || a.category }),
    el("span", { class: "name", text: a.display_name }),
  ));

  const photos = el("div", { class: "photos" },
    photo("Camera", `${a.id}:probe`, `Camera image of the person seen at ${a.camera_name}`),
    photo(`Watchlist photo, ${a.reference_image_date || "date unknown"}`, `${a.id}:reference`,
      `Watchlist reference photo of ${a.display_name}`),
  );
  card.append(photos);

  const pct = Math.round(a.similarity * 100);
  const thr = Math.round(a.threshold * 100);
  const meter = el("div", { class: "meter", role: "img",
    "aria-label": `Similarity ${a.similarity.toFixed(2)}, threshold ${a.threshold.toFixed(2)}` },
  el("span", { class: "fill" }), el("span", { class: "mark" }));
  meter.querySelector(".fill").style.width = `${Math.min(100, pct)}%`;
  meter.querySelector(".mark").style.left = `${Math.min(100, thr)}%`;
  card.append(el("div", { class: "sim" },
    el("p", {}, el("strong", { text: `Similarity ${a.similarity.toFixed(2)}` }),
      el("span", { text: ` (threshold ${a.threshold.toFixed(2)})` })),
    meter));

  const where = describe(ctx.position, a.lat, a.lon);
  const facts = el("dl", { class: "facts" });
  const fact = (k, v, aria) => {
    const value = typeof v === "string" ? { text: v } : {};
    facts.append(el("dt", { text: k }),
      el("dd", { ...value, "aria-label": aria || null }, ...(typeof v === "string" ? [] : v)));
  };
  fact("Reason", a.reason);
  fact("Where", `${a.camera_name} — ${a.place}`);
  fact("From you", where ? where.text : "share your location to see distance",
    where ? where.spoken : null);
  fact("First seen", `${ago(ctx.now - a.first_seen)} · ${a.sightings} sighting` +
    (a.sightings === 1 ? "" : "s"));
  // The date never breaks at its hyphens.
  fact("Reference", [`${a.subject_ref} · `,
    el("span", { class: "nowrap", text: `photo ${a.reference_image_date || "undated"}` })]);
  card.append(facts);

  card.append(el("p", { class: "notice", role: "note", text: a.notice }));

  const notes = (a.events || []).filter((e) => e.action === "note");
  if (notes.length) {
    const list = el("ul", { class: "notes", "aria-label": "Dispatcher notes" });
    for (const n of notes) list.append(el("li", { text: n.detail }));
    card.append(el("section", { class: "notes-box" },
      el("h3", { text: "Dispatcher notes" }), list));
  }

  if (ctx.pending) {
    card.append(el("p", { class: "pending", role: "status", text: ctx.pending }));
  }
  card.append(actions(a, mine, ctx));
  return card;
}

function actions(a, mine, ctx) {
  const box = el("div", { class: "actions" });
  if (ctx.pending) return box;
  if (a.state === "assigned" && mine) {
    box.classList.add("answer"); // kept under the thumb while the card is on screen
    const accept = el("button", { class: "primary", type: "button", text: "Accept" });
    accept.addEventListener("click", () => ctx.act("accept", a));
    const decline = el("button", { class: "secondary", type: "button", text: "Decline…",
      "aria-expanded": "false", "aria-controls": `decline-${a.id}` });
    const form = declineForm(a, ctx);
    decline.addEventListener("click", () => {
      form.hidden = !form.hidden;
      decline.setAttribute("aria-expanded", String(!form.hidden));
      if (!form.hidden) form.querySelector("button").focus();
    });
    box.append(el("div", { class: "row" }, accept, decline), form);
  } else if (a.state === "accepted" && mine) {
    box.append(resolveForm(a, ctx));
  } else if (a.state === "new") {
    const hide = el("button", { class: "secondary", type: "button", text: "Hide" });
    hide.addEventListener("click", () => ctx.act("hide", a));
    box.append(el("p", { class: "hint",
      text: "A dispatcher checks the comparison and assigns it." }), hide);
  }
  return box;
}

function declineForm(a, ctx) {
  const form = el("fieldset", { class: "decline", id: `decline-${a.id}`, hidden: true },
    el("legend", { text: "Why can't you take it?" }));
  for (const r of DECLINE_REASONS) {
    const b = el("button", { type: "button", class: "choice", text: r });
    b.addEventListener("click", () => ctx.act("decline", a, { reason: r }));
    form.append(b);
  }
  const other = el("input", { type: "text", id: `why-${a.id}`, maxlength: "200",
    autocomplete: "off" });
  const send = el("button", { type: "button", class: "secondary", text: "Decline" });
  send.addEventListener("click", () => {
    if (other.value.trim()) ctx.act("decline", a, { reason: other.value.trim() });
    else other.focus();
  });
  form.append(el("label", { for: `why-${a.id}`, text: "Other reason" }), other, send);
  return form;
}

function resolveForm(a, ctx) {
  const form = el("fieldset", { class: "resolve" },
    el("legend", { text: "What did you find?" }));
  let chosen = null;
  const buttons = OUTCOMES.map(([value, label]) => {
    const b = el("button", { type: "button", class: "choice", text: label,
      "aria-pressed": "false", "data-outcome": value });
    b.addEventListener("click", () => {
      chosen = value;
      for (const o of buttons) o.setAttribute("aria-pressed", String(o === b));
      done.disabled = false;
    });
    return b;
  });
  form.append(el("div", { class: "grid" }, ...buttons));
  const note = el("input", { type: "text", id: `note-${a.id}`, maxlength: "500",
    autocomplete: "off" });
  form.append(el("label", { for: `note-${a.id}`, text: "Note (optional)" }), note);
  const done = el("button", { type: "button", class: "primary", text: "Resolve",
    disabled: true });
  done.addEventListener("click", () => {
    if (chosen) ctx.act("resolve", a, { outcome: chosen, note: note.value.trim() });
  });
  form.append(done);
  return form;
}
