// 团长 pages: /leader
import {
  $, api, applyI18n, errorText, fmtTime, h, initial, langToggle, money, percent, store, t, toast, compact,
} from "./common.js";
import { setupSignIn } from "./signin.js";

const L = { token: store.get("live.leader.token"), account: null, invite: null, rooms: [] };
const params = new URLSearchParams(location.search);

applyI18n();
langToggle($("#lang"));
langToggle($("#lang-auth"));
const call = (m, p, b) => api(m, p, b, { token: L.token });

// --- auth --------------------------------------------------------------------------------
function tab(which) {
  $("#tab-signin").classList.toggle("active", which === "signin");
  $("#tab-signup").classList.toggle("active", which === "signup");
  $("#signin-form").hidden = which !== "signin";
  $("#signup-form").hidden = which !== "signup";
}
$("#tab-signin").addEventListener("click", () => tab("signin"));
$("#tab-signup").addEventListener("click", () => tab("signup"));
if (params.get("invite")) { tab("signup"); $("#signup-form").invite_code.value = params.get("invite"); }

setupSignIn({
  role: "leader", storeKey: "live.leader.token", notRole: "leader.not_leader",
  signupFields: (fd) => ({ invite_code: String(fd.get("invite_code")).trim() }),
  signupError: (err) => (err.code === "invalid" && err.fields.some((f) => f.field === "invite_code")
    ? t("leader.bad_invite") : null),
  onSignedIn: (token) => { L.token = token; boot(); },
  onSignedOut: () => { location.href = "/leader"; },
});

// --- numbers -----------------------------------------------------------------------------
async function loadStats() {
  let st = {};
  try { st = await call("GET", "/api/v1/me/stats"); } catch (e) { /* distribution not there yet */ }
  const tiles = [["visits", compact(st.visits ?? 0)], ["visitors", compact(st.visitors ?? 0)], ["buyers", compact(st.buyers ?? 0)],
    ["orders", String(st.orders ?? 0)], ["gmv", money(st.gmv_cents ?? 0), "money"], ["conversion", percent(st.conversion_rate ?? 0), "hot"]];
  $("#tiles").replaceChildren(...tiles.map(([k, v, cls]) =>
    h(`div.tile${cls ? `.${cls}` : ""}`, { dataset: { stat: k } }, h("div.tile-k", null, t(`stats.${k}`)), h("div.tile-v", null, v))));
}

async function loadCommission() {
  let c = { entries: [], frozen_cents: 0, settled_cents: 0, reversed_cents: 0 };
  try { c = await call("GET", "/api/v1/me/commissions"); } catch (e) { /* not there yet */ }
  $("#c-frozen").textContent = money(c.frozen_cents);
  $("#c-settled").textContent = money(c.settled_cents);
  $("#c-reversed").textContent = money(c.reversed_cents);
  const list = c.entries || [];
  $("#entries").replaceChildren(...(list.length ? list.slice(0, 50).map((e) => h("div.entry", { dataset: { entryId: e.id } },
    h("span", null, `${t("leader.order")} ${String(e.order_id).slice(-8)} · ${t("leader.level", { n: e.level })}`,
      h(`span.st.st-${e.status}`, null, t(`leader.${e.status}_s`))),
    h("b", null, money(e.amount_cents)))) : [h("div.muted-empty", null, t("leader.no_commission"))]));
}

async function loadTeam() {
  let net = { children: [] };
  try { net = await call("GET", "/api/v1/me/network"); } catch (e) { /* not there yet */ }
  const code = net.invite_code || L.invite;
  const link = `${location.origin}/leader?invite=${encodeURIComponent(code || "")}`;
  $("#invite").replaceChildren(
    h("div", null, t("leader.invite_yours"), " ", h("b.mono", null, code || "—")),
    h("div.share-row", null, h("span.mono.grow", null, link),
      h("button.btn.sm", { onclick: () => copy(link) }, t("common.copy"))),
    h("div.hint", null, t("leader.recruit_hint")));
  const kids = net.children || [];
  $("#team").replaceChildren(...(kids.length ? kids.map((k) => {
    const s = k.stats || k;
    const parts = [];
    if (s.visitors !== undefined) parts.push(`${t("stats.visitors")} ${s.visitors}`);
    if (s.buyers !== undefined) parts.push(`${t("stats.buyers")} ${s.buyers}`);
    if (s.orders !== undefined) parts.push(`${t("stats.orders")} ${s.orders}`);
    if (s.gmv_cents !== undefined) parts.push(`GMV ${money(s.gmv_cents)}`);
    if (s.conversion_rate !== undefined) parts.push(`${t("stats.conversion")} ${percent(s.conversion_rate)}`);
    if (s.commission_cents !== undefined) parts.push(`${t("leader.commission")} ${money(s.commission_cents)}`);
    return h("div.member", null, h("div.avatar", null, initial(k.name)),
      h("div.grow", null, h("div.ptitle", null, k.name || k.id), h("div.mstats", null, parts.join(" · ") || t("leader.no_results"))));
  }) : [h("div.muted-empty", null, t("leader.no_team"))]));
}

async function loadRooms() {
  const r = await call("GET", `/api/v1/rooms?host_id=${encodeURIComponent(L.account.host_id)}`);
  L.rooms = (r.rooms || []).filter((x) => x.status !== "ended").concat((r.rooms || []).filter((x) => x.status === "ended"));
  const box = $("#rooms");
  box.replaceChildren(...(L.rooms.length ? L.rooms.map((room) => {
    const stats = h("div.lroom-stats");
    call("GET", `/api/v1/me/stats?room_id=${encodeURIComponent(room.id)}`).then((s) => {
      stats.textContent = `${t("stats.visitors")} ${s.visitors} · ${t("stats.buyers")} ${s.buyers} · GMV ${money(s.gmv_cents)} · ${t("stats.conversion")} ${percent(s.conversion_rate)}`;
    }).catch(() => {});
    return h("div.lroom", { dataset: { roomId: room.id } },
      h("div.lroom-cover", null, initial(room.title)),
      h("div.grow", null, h("div.lroom-title", null, room.title),
        h("div.lroom-meta", null, h(`span.pill.st-${room.status}`, null, t(`status.${room.status}`)),
          room.scheduled_at ? h("span", null, fmtTime(room.scheduled_at)) : null,
          h("span", null, `${(room.shelf || []).length} ${t("console.items")}`)), stats),
      h("button.btn.primary.sm.share-btn", { onclick: () => share(room), disabled: room.status === "ended" }, t("leader.make_link")));
  }) : [h("div.muted-empty", null, t("leader.no_rooms"))]));
}

// --- share link, QR, poster ---------------------------------------------------------------
async function copy(text) {
  try { await navigator.clipboard.writeText(text); toast(t("common.copied"), "ok"); }
  catch (e) { prompt("", text); }
}

async function share(room) {
  let link;
  try { link = await call("POST", `/api/v1/rooms/${encodeURIComponent(room.id)}/share-links`, {}); }
  catch (err) { toast(errorText(err), "error"); return; }
  const url = new URL(link.url, location.origin).toString();
  const qr = new URL(link.qr_url, location.origin).toString();
  $("#modal-title").textContent = room.title;
  $("#share-url").value = url;
  $("#qr").src = qr;
  $("#save-qr").href = qr;
  $("#copy-link").onclick = () => copy(url);
  $("#modal").hidden = false;
  await drawPoster(room, url, qr);
}

function loadImage(src) {
  return new Promise((res) => { const img = new Image(); img.onload = () => res(img); img.onerror = () => res(null); img.src = src; });
}

async function drawPoster(room, url, qrUrl) {
  const c = $("#poster");
  const g = c.getContext("2d");
  const W = c.width, H = c.height;
  const bg = g.createLinearGradient(0, 0, W, H);
  bg.addColorStop(0, "#ff2d55"); bg.addColorStop(1, "#ff6a00");
  g.fillStyle = bg; g.fillRect(0, 0, W, H);
  g.fillStyle = "rgba(255,255,255,.08)";
  for (let i = 0; i < 6; i++) { g.beginPath(); g.arc(W * (i % 3) / 2, 120 + i * 140, 160, 0, Math.PI * 2); g.fill(); }
  const font = getComputedStyle(document.body).fontFamily;
  g.fillStyle = "#fff"; g.textAlign = "center";
  g.font = `800 44px ${font}`; g.fillText(t("leader.poster_live"), W / 2, 110);
  g.font = `600 30px ${font}`; g.fillText((room.host && room.host.name) || "", W / 2, 165);
  // card
  g.fillStyle = "#fff"; roundRect(g, 50, 210, W - 100, H - 300, 36); g.fill();
  g.fillStyle = "#1b1c22"; g.font = `800 40px ${font}`;
  wrapText(g, room.title, W / 2, 300, W - 180, 52);
  const products = (room.shelf || []).slice(0, 3);
  g.font = `500 28px ${font}`; g.fillStyle = "#4a4d57";
  products.forEach((p, i) => {
    g.textAlign = "left"; g.fillText(`· ${p.title}`.slice(0, 18), 110, 430 + i * 48);
    g.textAlign = "right"; g.fillStyle = "#ff2d55"; g.fillText(money(p.price_cents), W - 110, 430 + i * 48); g.fillStyle = "#4a4d57";
  });
  g.textAlign = "center";
  const qr = await loadImage(qrUrl);
  const qs = 330, qy = 600;
  if (qr) g.drawImage(qr, (W - qs) / 2, qy, qs, qs);
  g.fillStyle = "#8a8f9c"; g.font = `500 26px ${font}`;
  g.fillText(t("leader.poster_scan"), W / 2, qy + qs + 50);
  g.fillStyle = "#fff"; g.font = `700 30px ${font}`;
  g.fillText(t("leader.poster_from", { name: L.account.name }), W / 2, H - 40);
  c.toBlob((blob) => { if (blob) $("#save-poster").href = URL.createObjectURL(blob); });
}
function roundRect(g, x, y, w, hh, r) {
  g.beginPath(); g.moveTo(x + r, y); g.arcTo(x + w, y, x + w, y + hh, r); g.arcTo(x + w, y + hh, x, y + hh, r);
  g.arcTo(x, y + hh, x, y, r); g.arcTo(x, y, x + w, y, r); g.closePath();
}
function wrapText(g, text, x, y, maxW, lh) {
  let line = "", lines = 0;
  for (const ch of String(text)) {
    if (g.measureText(line + ch).width > maxW) { g.fillText(line, x, y + lines * lh); line = ch; lines += 1; if (lines >= 2) return; }
    else line += ch;
  }
  g.fillText(line, x, y + lines * lh);
}
$("#modal-x").addEventListener("click", () => { $("#modal").hidden = true; });
$("#modal").addEventListener("click", (e) => { if (e.target.id === "modal") $("#modal").hidden = true; });

// --- boot ---------------------------------------------------------------------------------------
async function boot() {
  if (!L.token) { $("#auth").hidden = false; $("#app").hidden = true; return; }
  try {
    const me = await call("GET", "/api/v1/me");
    if (!me.account || me.account.role !== "leader") throw Object.assign(new Error("x"), { status: 401 });
    L.account = me.account; L.invite = me.invite_code;
  } catch (err) {
    if (err.status === 401 || err.status === 403) { store.set("live.leader.token", null); L.token = null; $("#auth").hidden = false; return; }
    toast(errorText(err), "error"); return;
  }
  $("#auth").hidden = true; $("#app").hidden = false;
  $("#me-name").textContent = L.account.name;
  $("#hero-hi").textContent = t("leader.hi", { name: L.account.name });
  $("#hero-sub").textContent = t("leader.hero_sub");
  await Promise.all([loadRooms(), loadStats(), loadCommission(), loadTeam()]);
  setInterval(() => { loadStats(); loadCommission(); }, 5000);
}
boot();
