// The officer websocket (docs/protocol.md, section 8): hello -> welcome -> resume(last_seq),
// durable messages handled in order then acknowledged, commands with a ref answered by a
// result, reconnect with exponential backoff and jitter. A close with 4001 (revoked,
// unpaired, expired) or 4010 (replaced) is final: the app says so and does not retry.

const PROTOCOL = 1;
const FINAL = new Set([4001, 4002, 4010]);

export class Link {
  /**
   * @param {string} token the officer's bearer token (sent in hello, never in a URL)
   * @param {() => number} lastSeq highest seq handled so far
   * @param {object} on callbacks: welcome(msg), durable(msg) -> bool handled,
   *   result(msg), error(msg), state(name), final(code, reason)
   */
  constructor(token, lastSeq, on) {
    this.token = token;
    this.lastSeq = lastSeq;
    this.on = on;
    this.ws = null;
    this.live = false; // welcome received on the current socket
    this.ceiling = 500;
    this.stopped = false;
    this.timer = null;
    this.pingRef = 0;
  }

  start() {
    this.stopped = false;
    this.open();
    window.addEventListener("online", () => this.retryNow());
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    // Forget the socket first: its close event (which may carry the server's own 4001 when
    // the server ended the session at the same moment) is then no news to anyone.
    const ws = this.ws;
    this.ws = null;
    this.live = false;
    if (ws) ws.close(1000, "bye");
  }

  retryNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= 1)) return;
    clearTimeout(this.timer);
    this.open();
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.on.state("connecting");
    let ws;
    try {
      ws = new WebSocket(`${scheme}://${location.host}/ws/officer`);
    } catch (_e) {
      this.schedule();
      return;
    }
    this.ws = ws;
    this.live = false;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "hello", token: this.token, protocol: PROTOCOL,
        camera_id: null, client: "vigil-officer-web/0.1" }));
    };
    ws.onmessage = (ev) => this.receive(ws, ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.live = false;
      this.ws = null;
      if (FINAL.has(ev.code)) {
        this.stopped = true;
        this.on.final(ev.code, ev.reason);
        return;
      }
      this.on.state("offline");
      if (!this.stopped) this.schedule();
    };
  }

  schedule() {
    const delay = this.ceiling / 2 + Math.random() * (this.ceiling / 2);
    this.ceiling = Math.min(this.ceiling * 2, 30000);
    this.timer = setTimeout(() => this.open(), delay);
  }

  receive(ws, data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (_e) {
      return;
    }
    switch (msg.type) {
      case "welcome":
        this.live = true;
        this.ceiling = 500;
        this.on.welcome(msg);
        ws.send(JSON.stringify({ type: "resume", last_seq: this.lastSeq() }));
        this.on.state("online");
        break;
      case "result":
        this.on.result(msg);
        break;
      case "error":
        this.on.error(msg);
        break;
      case "pong":
        break;
      default:
        if (typeof msg.seq === "number") {
          // Handle, then acknowledge; a replay at or below what we handled is acked again.
          if (msg.seq > this.lastSeq()) this.on.durable(msg);
          ws.send(JSON.stringify({ type: "ack", seq: msg.seq }));
        }
    }
  }

  /** Send now if connected and welcomed; false means the caller keeps it queued. */
  send(message) {
    if (!this.live || !this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }
}
