// Live video in the browser: publish (WHIP) and play (WHEP or external HLS/WHEP).
//
//   import { publish, play, health } from "/static/js/video.js";
//   const pub = await publish(roomId, hostToken, await navigator.mediaDevices.getUserMedia(
//       { video: true, audio: true }), { onstate: (s) => console.log(s) });
//   await pub.stop();
//
//   const player = play(roomId, viewerToken, document.querySelector("video"),
//       { onstate: (s, detail) => console.log(s, detail) });
//   player.stop();
//
// `play` follows the room's `playback`: `webrtc` (or `whep` without a url)
// watches the built-in relay; `whep` with a url does WHEP against that server;
// `hls` plays the url natively (Safari, iOS) or with the vendored hls.js.
// It keeps trying while nobody is publishing and reconnects when the
// publisher comes back, until `stop()`.

const API = "/api/v1";

export class VideoError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || null;
  }
}

async function errorOf(res) {
  let code = null;
  let message = `HTTP ${res.status}`;
  try {
    const body = await res.json();
    code = body.error?.code ?? null;
    message = body.error?.message ?? message;
  } catch (_) { /* not JSON: an external server */ }
  return new VideoError(res.status, code, message);
}

function authHeaders(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// aiortc does not take trickled candidates: send the offer once gathering is
// complete (host candidates take milliseconds; STUN/TURN are capped).
function gathered(pc, timeoutMs = 3000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    }, timeoutMs);
    pc.addEventListener("icegatheringstatechange", done);
  });
}

// POST the offer, apply the answer; returns the absolute session URL.
async function exchange(pc, url, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", ...authHeaders(token) },
    body: pc.localDescription.sdp,
  });
  if (res.status !== 201 && res.status !== 200) throw await errorOf(res);
  const answer = await res.text();
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  const location = res.headers.get("Location");
  return location ? new URL(location, new URL(url, window.location.href)).href : null;
}

async function endSession(location, token) {
  if (!location) return;
  try {
    await fetch(location, { method: "DELETE", headers: authHeaders(token), keepalive: true });
  } catch (_) { /* the server may be gone; the connection closes anyway */ }
}

// --- publishing --------------------------------------------------------------

/**
 * Publish `mediaStream` (camera + microphone) to the room over WHIP.
 * opts: { iceServers, onstate(state) } — state is the peer connection's
 * `connectionState` ("connecting", "connected", "failed", "closed", ...).
 * Resolves to { pc, location, stop() } once the server answered; rejects with
 * a VideoError (409 conflict: someone already publishes; 409 room_not_live).
 */
export async function publish(roomId, token, mediaStream, opts = {}) {
  const pc = new RTCPeerConnection({ iceServers: opts.iceServers || [] });
  for (const track of mediaStream.getTracks()) {
    pc.addTransceiver(track, { direction: "sendonly", streams: [mediaStream] });
  }
  const onstate = opts.onstate || (() => {});
  pc.addEventListener("connectionstatechange", () => onstate(pc.connectionState));
  let location;
  try {
    location = await exchange(pc, `${API}/rooms/${encodeURIComponent(roomId)}/whip`, token);
  } catch (err) {
    pc.close();
    throw err;
  }
  let stopped = false;
  return {
    pc,
    location,
    async stop() {
      if (stopped) return;
      stopped = true;
      await endSession(location, token);
      pc.close();
      onstate("closed");
    },
  };
}

/** Stream health for the console: {publishing, width, height, fps, bitrate_kbps, viewers}. */
export async function health(roomId, token) {
  const res = await fetch(`${API}/rooms/${encodeURIComponent(roomId)}/video`,
    { headers: authHeaders(token) });
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

// --- playing -----------------------------------------------------------------

async function roomPlayback(roomId) {
  const res = await fetch(`${API}/rooms/${encodeURIComponent(roomId)}`);
  if (!res.ok) throw await errorOf(res);
  const room = await res.json();
  return room.playback || { kind: "webrtc", url: null };
}

// One WHEP session; resolves when it ends (connection failed/closed) or stop().
function whepSession(url, token, video, opts, onstate, signal) {
  return new Promise((resolve, reject) => {
    const pc = new RTCPeerConnection({ iceServers: opts.iceServers || [] });
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.addEventListener("track", (ev) => {
      stream.addTrack(ev.track);
      if (video.srcObject !== stream) video.srcObject = stream;
      video.play().catch(() => {}); // autoplay rules: the page may need a tap (muted works)
    });
    let location = null;
    let finished = false;
    const finish = (err) => {
      if (finished) return;
      finished = true;
      signal.removeEventListener("abort", onAbort);
      endSession(location, token);
      pc.close();
      if (err) reject(err); else resolve();
    };
    const onAbort = () => finish();
    signal.addEventListener("abort", onAbort);
    let grace = null;
    pc.addEventListener("connectionstatechange", () => {
      const s = pc.connectionState;
      clearTimeout(grace);
      if (s === "connected") onstate("playing", {});
      if (s === "failed" || s === "closed") finish();
      // The server closing our session (the publisher left) shows up here as
      // "disconnected"; a short network blip recovers within the grace period.
      if (s === "disconnected") grace = setTimeout(() => finish(), opts.disconnectGraceMs ?? 4000);
    });
    exchange(pc, url, token).then((loc) => {
      location = loc;
      if (signal.aborted) finish();
    }, (err) => finish(err));
  });
}

async function playHls(url, video, onstate) {
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url; // Safari, iOS: native HLS
    video.play().catch(() => {});
    onstate("playing", { kind: "hls", native: true });
    return () => { video.removeAttribute("src"); video.load(); };
  }
  const { default: Hls } = await import("../vendor/hls.min.mjs");
  if (!Hls.isSupported()) throw new VideoError(0, "unsupported", "this browser cannot play HLS");
  const hls = new Hls({ liveDurationInfinity: true, lowLatencyMode: true });
  hls.on(Hls.Events.ERROR, (_ev, data) => {
    if (data.fatal) onstate("error", { kind: "hls", type: data.type, details: data.details });
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    video.play().catch(() => {});
    onstate("playing", { kind: "hls", native: false });
  });
  return () => hls.destroy();
}

/**
 * Play the room in `videoElement`, following its playback setting.
 * opts: { iceServers, onstate(state, detail), retryMs (default 3000),
 *         playback: {kind, url} to skip the room lookup }.
 * States: "connecting", "playing", "waiting" (nobody is publishing),
 * "over_capacity" (the built-in relay is full), "error", "stopped".
 * Returns { stop(), done } at once; `done` settles when it stops.
 */
export function play(roomId, token, videoElement, opts = {}) {
  const onstate = opts.onstate || (() => {});
  const retryMs = opts.retryMs ?? 3000;
  const abort = new AbortController();
  let cleanup = null;
  const sleep = (ms) => new Promise((r) => {
    const t = setTimeout(r, ms);
    abort.signal.addEventListener("abort", () => { clearTimeout(t); r(); }, { once: true });
  });

  async function run() {
    const playback = opts.playback || await roomPlayback(roomId);
    if (playback.kind === "none") {
      onstate("stopped", { kind: "none" });
      return;
    }
    if (playback.kind === "hls") {
      onstate("connecting", { kind: "hls" });
      cleanup = await playHls(playback.url, videoElement, onstate);
      return;
    }
    const external = playback.kind === "whep" && playback.url;
    const url = external ? playback.url : `${API}/rooms/${encodeURIComponent(roomId)}/whep`;
    const whepToken = external ? (opts.externalToken ?? null) : token;
    while (!abort.signal.aborted) {
      onstate("connecting", { kind: external ? "whep" : "webrtc", url });
      try {
        await whepSession(url, whepToken, videoElement, opts, onstate, abort.signal);
        if (!abort.signal.aborted) onstate("waiting", { reason: "disconnected" });
      } catch (err) {
        if (err.code === "not_running") onstate("waiting", { reason: "not_running" });
        else if (err.code === "over_capacity") onstate("over_capacity", { error: err });
        else onstate("error", { error: err });
      }
      await sleep(retryMs);
    }
  }

  const done = run().catch((err) => onstate("error", { error: err }));
  return {
    done,
    stop() {
      abort.abort();
      if (cleanup) cleanup();
      onstate("stopped", {});
    },
  };
}
