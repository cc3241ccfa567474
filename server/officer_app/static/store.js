// Everything the app keeps on the phone, in localStorage: the credential, the highest seq
// handled (so a reload resumes with nothing lost and nothing twice), the alerts on screen
// (text only: photos are fetched on demand and kept in memory) and the queue of actions
// taken while offline.

const KEY = "vigil.officer.v1";

const empty = () => ({
  credential: null, // {token, officer_id, call_sign}
  lastSeq: 0,
  alerts: {}, // id -> AlertView (highest version seen)
  route: {}, // id -> "nearby" | "assigned"
  queue: [], // [{ref, message, label}]
  nextRef: 1,
  status: "available",
  sharing: false, // the officer chose to share location while on duty
});

export class Store {
  constructor() {
    this.state = empty();
    try {
      const raw = localStorage.getItem(KEY);
      if (raw) this.state = Object.assign(empty(), JSON.parse(raw));
    } catch (_e) {
      this.state = empty();
    }
  }

  save() {
    localStorage.setItem(KEY, JSON.stringify(this.state));
  }

  /** Forget everything (unpaired, revoked): nothing about any alert stays on the phone. */
  clear() {
    this.state = empty();
    localStorage.removeItem(KEY);
  }

  get paired() {
    return this.state.credential !== null;
  }

  ref() {
    const ref = this.state.nextRef++;
    this.save();
    return ref;
  }

  /** Keep the newest version of an alert. Returns true when it changed what we show. */
  putAlert(alert, route) {
    const old = this.state.alerts[alert.id];
    if (old && old.version >= alert.version) return false;
    this.state.alerts[alert.id] = alert;
    if (route) this.state.route[alert.id] = route;
    return true;
  }

  dropAlert(id) {
    delete this.state.alerts[id];
    delete this.state.route[id];
    this.state.queue = this.state.queue.filter((q) => q.message.alert_id !== id);
  }
}
