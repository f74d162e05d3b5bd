// One room's live stream over Socket.IO: join, replay with last_seq on
// reconnect, apply events exactly once and in seq order.
import { io } from "/static/vendor/socket.io-client/socket.io.esm.min.js";
import { syncClock, uuid } from "./common.js";

export class RoomStream {
  /**
   * handlers: onSnapshot(snapshot), onEvent(event, {replay}), onState("connecting"|"live"|"offline"),
   *           onError(error) — a refused join (banned, not_found, invalid share token...)
   */
  constructor({ roomId, token, shareToken, ...handlers }) {
    this.roomId = roomId;
    this.token = token;
    this.shareToken = shareToken || null;
    this.h = handlers;
    this.seq = null;          // last seq applied
    this.joined = false;
    this.buffer = [];         // frames that arrive while a join is in flight
    this.joining = false;
    this.socket = null;
  }

  start() {
    const socket = io({ path: "/socket.io/", auth: { token: this.token },
      transports: ["websocket", "polling"], reconnectionDelayMax: 4000 });
    this.socket = socket;
    this.h.onState && this.h.onState("connecting");
    socket.on("connect", () => this.join());
    socket.on("disconnect", () => { this.joined = false; this.h.onState && this.h.onState("offline"); });
    socket.on("connect_error", (err) => {
      this.h.onState && this.h.onState("offline");
      // refused for capacity (a reconnect storm, a backing service restarting):
      // a server refusal is not retried by socket.io itself, so try again a bit later
      if (err && err.data && err.data.code === "over_capacity") {
        setTimeout(() => socket.connect(), 1000 + Math.random() * 2000);
        return;
      }
      if (err && err.message && /token|auth|unauthor/i.test(err.message) && this.h.onAuthError) this.h.onAuthError(err);
    });
    socket.on("events", (frame) => this.onFrame(frame));
    return this;
  }

  stop() { if (this.socket) this.socket.close(); }

  async join() {
    if (this.joining) return;
    this.joining = true;
    this.joined = false;
    this.buffer = [];
    const payload = { room_id: this.roomId };
    if (this.seq !== null) payload.last_seq = this.seq;
    if (this.shareToken) payload.share_token = this.shareToken;
    let ack;
    try {
      ack = await this.socket.timeout(10000).emitWithAck("join", payload);
    } catch (e) {
      this.joining = false;
      setTimeout(() => this.socket.connected && this.join(), 1000);
      return;
    }
    this.joining = false;
    if (!ack || !ack.ok) {
      this.h.onError && this.h.onError((ack && ack.error) || { code: "unknown" });
      return;
    }
    const snap = ack.snapshot;
    syncClock(snap.server_time);
    if (ack.replay && this.seq !== null) {
      for (const ev of ack.replay) if (ev.seq > this.seq) this.apply(ev, true);
      this.h.onSnapshotTime && this.h.onSnapshotTime(snap);
    } else {
      this.h.onSnapshot && this.h.onSnapshot(snap);
    }
    this.seq = snap.seq;
    this.joined = true;
    this.h.onState && this.h.onState("live");
    const pending = this.buffer; this.buffer = [];
    for (const ev of pending) this.accept(ev);
  }

  onFrame(frame) {
    if (!frame || frame.room_id !== this.roomId) return;
    for (const ev of frame.events || []) {
      if (!this.joined) { this.buffer.push(ev); continue; }
      this.accept(ev);
    }
  }

  accept(ev) {
    if (ev.seq <= this.seq) return;                  // already applied (replay or duplicate)
    if (ev.seq > this.seq + 1) {                     // a gap: ask for what we missed
      this.joined = false;
      this.join();
      return;
    }
    this.apply(ev, false);
  }

  apply(ev, replay) {
    this.seq = ev.seq;
    try { this.h.onEvent && this.h.onEvent(ev, { replay }); } catch (e) { console.error(e); }
  }

  async emit(name, data) {
    if (!this.socket || !this.socket.connected) return { ok: false, error: { code: "offline" } };
    try {
      return await this.socket.timeout(10000).emitWithAck(name, { room_id: this.roomId, ...data });
    } catch (e) {
      return { ok: false, error: { code: "timeout" } };
    }
  }

  chat(text, clientMsgId = uuid()) { return this.emit("chat", { text, client_msg_id: clientMsgId }); }
  like(count) { return this.emit("like", { count }); }
}
