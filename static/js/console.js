// The host console: /console
import {
  $, $$, api, applyI18n, countdown, errorText, fmtTime, h, langToggle, loadVideo, money, msUntil,
  parseYuan, percent, productImage, serverNow, store, syncClock, t, toast, compact,
} from "./common.js";
import { RoomStream } from "./realtime.js";
import { setupSignIn } from "./signin.js";

const S = {
  token: store.get("live.host.token"),
  account: null,
  rooms: [],
  room: null,           // selected room snapshot
  shelf: [],
  sales: new Map(),
  catalogue: new Map(), // product id → product
  stream: null,
  stats: null,
  series: [],           // [{t, viewers, gmv}]
  statsTimer: null,
  camera: null,         // MediaStream
  publisher: null,      // handle from video.js publish()
  chatUsers: new Map(),
  viewers: 0, likes: 0,
};

applyI18n();
langToggle($("#lang"));
langToggle($("#lang-auth"));

// --- auth ----------------------------------------------------------------------------
function showAuth() { $("#auth").hidden = false; $("#app").hidden = true; }

$("#to-signup").addEventListener("click", (e) => { e.preventDefault(); $("#signin-form").hidden = true; $("#signup-form").hidden = false; $("#to-signup").hidden = true; $("#to-signin").hidden = false; });
$("#to-signin").addEventListener("click", (e) => { e.preventDefault(); $("#signin-form").hidden = false; $("#signup-form").hidden = true; $("#to-signup").hidden = false; $("#to-signin").hidden = true; });

setupSignIn({
  role: "host", storeKey: "live.host.token", notRole: "console.not_host",
  onSignedIn: (token) => { S.token = token; boot(); },
  onSignedOut: () => location.reload(),
});

const call = (method, path, body, opts = {}) => api(method, path, body, { token: S.token, ...opts });

// --- rooms -----------------------------------------------------------------------------
async function loadRooms() {
  const r = await call("GET", `/api/v1/rooms?host_id=${encodeURIComponent(S.account.id)}`);
  S.rooms = r.rooms || [];
  for (const room of S.rooms) for (const p of room.shelf || []) S.catalogue.set(p.id, p);
  renderRoomList();
}

function renderRoomList() {
  const box = $("#room-list");
  box.replaceChildren();
  if (!S.rooms.length) box.append(h("div.side-empty", null, t("console.no_rooms")));
  for (const r of S.rooms) {
    box.append(h(`button.room-item${S.room && S.room.id === r.id ? ".active" : ""}`, { onclick: () => selectRoom(r.id), dataset: { roomId: r.id } },
      h("div.room-item-title", null, r.title),
      h("div.room-item-meta", null, h(`span.pill.st-${r.status}`, null, t(`status.${r.status}`)),
        h("span", null, r.scheduled_at ? fmtTime(r.scheduled_at) : `${(r.shelf || []).length} ${t("console.items")}`))));
  }
}

$("#new-room").addEventListener("submit", async (e) => {
  e.preventDefault();
  const fd = new FormData(e.target);
  const body = { title: String(fd.get("title")).trim() };
  const when = fd.get("scheduled_at");
  if (when) body.scheduled_at = new Date(String(when)).toISOString();
  try {
    const room = await call("POST", "/api/v1/rooms", body);
    e.target.reset();
    toast(t("console.room_created"), "ok");
    await loadRooms();
    selectRoom(room.id);
  } catch (err) { toast(errorText(err), "error"); }
});

async function selectRoom(id) {
  if (S.stream) S.stream.stop();
  clearInterval(S.statsTimer);
  S.series = []; S.stats = null; S.chatUsers.clear();
  $("#host-chat").replaceChildren(h("div.muted-empty", { id: "chat-empty" }, t("console.chat_empty")));
  $("#ticker").replaceChildren();
  const snap = await call("GET", `/api/v1/rooms/${encodeURIComponent(id)}`);
  history.replaceState(null, "", `?room=${encodeURIComponent(id)}${location.search.includes("lang=en") ? "&lang=en" : ""}`);
  applySnapshot(snap);
  $("#empty-main").hidden = true;
  $("#room-view").hidden = false;
  renderRoomList();
  S.stream = new RoomStream({ roomId: id, token: S.token, onSnapshot: applySnapshot, onEvent,
    onError: (err) => toast(errorText(err), "error") }).start();
  await loadSeries(id);
  pollStats();
  S.statsTimer = setInterval(pollStats, 2000);
  loadOrders();
  renderShare();
}

function applySnapshot(snap) {
  S.room = snap;
  syncClock(snap.server_time);
  S.shelf = snap.shelf || [];
  for (const p of S.shelf) S.catalogue.set(p.id, p);
  S.sales = new Map((snap.flash_sales || []).map((s) => [s.id, s]));
  S.viewers = snap.viewers || 0; S.likes = snap.likes || 0;
  // Ended draws stay listed with their winners until another room is picked.
  const ended = S.growth && S.growth.roomId === snap.id ? S.growth.draws.filter((d) => d.status === "ended") : [];
  S.growth = { roomId: snap.id, coupons: snap.coupons || [], group_buys: snap.group_buys || [],
    draws: [...(snap.draws || []), ...ended.filter((d) => !(snap.draws || []).some((x) => x.id === d.id))] };
  if (!S.groups || S.groupsRoom !== snap.id) { S.groups = new Map(); S.groupsRoom = snap.id; S.winners = new Map(); }
  loadGroups();
  renderHead(); renderShelf(); renderCatalogue(); renderSales(); renderTiles(); renderGrowthList();
  const pb = snap.playback || {};
  $("#playback-form").kind.value = pb.kind || "webrtc";
  $("#playback-form").url.value = pb.url || "";
}

function renderHead() {
  const r = S.room;
  $("#rv-title").textContent = r.title;
  const st = $("#rv-status");
  st.className = `pill st-${r.status}`;
  st.textContent = t(`status.${r.status}`);
  $("#rv-sub").textContent = `${t("console.room_id")} ${r.id}${r.scheduled_at ? ` · ${t("console.scheduled_for")} ${fmtTime(r.scheduled_at)}` : ""}`;
  $("#rv-watch").href = `/watch/${encodeURIComponent(r.id)}`;
  $("#go-live").hidden = r.status !== "scheduled";
  $("#end-live").hidden = r.status === "ended";
}

async function setStatus(status) {
  if (status === "ended" && !confirm(t("console.confirm_end"))) return;
  try {
    applySnapshot(await call("POST", `/api/v1/rooms/${encodeURIComponent(S.room.id)}/status`, { status }));
    const i = S.rooms.findIndex((x) => x.id === S.room.id);
    if (i >= 0) S.rooms[i] = S.room;
    renderRoomList();
    toast(status === "live" ? t("console.now_live") : t("console.now_ended"), "ok");
  } catch (err) { toast(errorText(err), "error"); }
}
$("#go-live").addEventListener("click", () => setStatus("live"));
$("#end-live").addEventListener("click", () => setStatus("ended"));

// --- realtime --------------------------------------------------------------------------
function onEvent(ev, { replay }) {
  const d = ev.data || {};
  switch (ev.type) {
    case "chat": addChat(d); break;
    case "chat_deleted": { const el = $(`#host-chat [data-id="${CSS.escape(d.id)}"]`); if (el) el.classList.add("deleted"); break; }
    case "likes": S.likes = d.total; renderTiles(); break;
    case "viewers": S.viewers = d.count; renderTiles(); break;
    case "pin": S.room.pinned_product_id = d.product ? d.product.id : null; renderShelf(); break;
    case "shelf": S.shelf = d.products || []; for (const p of S.shelf) S.catalogue.set(p.id, p); renderShelf(); renderCatalogue(); break;
    case "flash": if (d.status === "ended") S.sales.delete(d.id); else S.sales.set(d.id, d); renderSales(); renderShelf(); break;
    case "stock":
      if (d.flash_sale_id) { const s = S.sales.get(d.flash_sale_id); if (s) s.remaining = d.remaining; renderSales(); }
      else { const p = S.shelf.find((x) => x.id === d.product_id); if (p) { p.stock = d.remaining; renderShelf(); } }
      break;
    case "purchase":
      if (!replay) {
        $("#ticker").prepend(h("div.tick", null, `${d.nickname} ${t("watch.just_bought")} ${d.product_title} ×${d.quantity}`));
        while ($("#ticker").children.length > 5) $("#ticker").lastElementChild.remove();
        loadOrders();
      }
      break;
    case "status": S.room.status = d.status; renderHead(); break;
    case "moderation": if (!replay && d.action === "slow_mode") $("#slow").value = String(d.seconds || 0); break;
    case "coupon": upsert(S.growth.coupons, d); renderGrowthList(); break;
    case "group_buy": upsert(S.growth.group_buys, d); renderGrowthList(); break;
    case "draw": upsert(S.growth.draws, d); if (d.status === "ended") loadWinners(d); renderGrowthList(); break;
    case "group": S.groups.set(d.id, d); renderGrowthList(); break;
    default: break;
  }
}
function upsert(list, item) { const i = list.findIndex((x) => x.id === item.id); if (i >= 0) list[i] = item; else list.push(item); }

// --- chat + moderation ------------------------------------------------------------------
function addChat(m) {
  const box = $("#host-chat");
  if ($(`#host-chat [data-id="${CSS.escape(m.id)}"]`)) return;
  const isHost = m.user && S.account && m.user.id === S.account.id;
  const row = h(`div.cmsg${isHost ? ".host" : ""}`, { dataset: { id: m.id, userId: m.user ? m.user.id : "" } },
    h("div.cmsg-body", null, h("span.cnick", null, (m.user && m.user.nickname) || ""), h("span.ctext", null, m.text)));
  if (!isHost && m.user) {
    row.append(h("div.cmsg-actions", null,
      h("button", { title: t("console.delete"), onclick: () => moderate({ action: "delete_message", message_id: m.id }, t("console.deleted")) }, t("console.delete")),
      h("button", { title: t("console.mute"), onclick: () => moderate({ action: "mute", user_id: m.user.id, seconds: 600 }, t("console.muted", { name: m.user.nickname })) }, t("console.mute")),
      h("button.ban", { title: t("console.ban"), onclick: () => { if (confirm(t("console.confirm_ban", { name: m.user.nickname }))) moderate({ action: "ban", user_id: m.user.id }, t("console.banned", { name: m.user.nickname })); } }, t("console.ban"))));
  }
  $("#chat-empty")?.remove();
  box.append(row);
  while (box.children.length > 200) box.firstElementChild.remove();
  box.scrollTop = box.scrollHeight;
}

async function moderate(body, okText) {
  try {
    await call("POST", `/api/v1/rooms/${encodeURIComponent(S.room.id)}/moderation`, body);
    if (okText) toast(okText, "ok");
  } catch (err) { toast(errorText(err), "error"); }
}
$("#slow").addEventListener("change", (e) => moderate({ action: "slow_mode", seconds: Number(e.target.value) },
  Number(e.target.value) ? t("watch.slow_on", { s: e.target.value }) : t("watch.slow_off")));
$("#host-chat-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("#host-chat-input");
  if (!input.value.trim() || !S.stream) return;
  const ack = await S.stream.chat(input.value.trim());
  if (ack && ack.ok) input.value = ""; else toast(errorText(ack && ack.error), "error");
});

// --- products, shelf, pin -------------------------------------------------------------------
function knownProductIds() { return store.json(`live.products.${S.account.id}`) || []; }
function rememberProduct(id) { const ids = knownProductIds(); if (!ids.includes(id)) { ids.push(id); store.setJson(`live.products.${S.account.id}`, ids); } }

async function loadCatalogue() {
  const ids = knownProductIds().filter((id) => !S.catalogue.has(id));
  await Promise.all(ids.map(async (id) => {
    try { S.catalogue.set(id, await call("GET", `/api/v1/products/${encodeURIComponent(id)}`)); } catch (e) { /* gone */ }
  }));
}

$("#product-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const fd = new FormData(e.target);
  const price = parseYuan(fd.get("price"));
  if (!price) { toast(t("console.bad_price"), "error"); return; }
  const body = { title: String(fd.get("title")).trim(), price_cents: price, stock: Number(fd.get("stock")) };
  const img = String(fd.get("image_url") || "").trim();
  if (img) body.image_url = img;
  try {
    const p = await call("POST", "/api/v1/products", body);
    S.catalogue.set(p.id, p); rememberProduct(p.id);
    e.target.reset();
    // A new product goes straight onto this room's shelf: that is why it was made.
    await putShelf([...S.shelf.map((x) => x.id), p.id]);
    toast(t("console.product_added"), "ok");
  } catch (err) { toast(errorText(err), "error"); }
});

function renderCatalogue() {
  const box = $("#catalogue");
  box.replaceChildren();
  const onShelf = new Set(S.shelf.map((p) => p.id));
  const off = [...S.catalogue.values()].filter((p) => !onShelf.has(p.id));
  if (!off.length) return;
  box.append(h("div.sub-head", null, t("console.not_on_shelf")));
  for (const p of off) {
    box.append(h("div.cat-row", null, productImage(p, "thumb"), h("div.grow", null, h("div.ptitle", null, p.title),
      h("div.pmeta", null, `${money(p.price_cents)} · ${t("console.stock")} ${p.stock}`)),
      h("button.btn.sm", { onclick: () => putShelf([...S.shelf.map((x) => x.id), p.id]) }, t("console.put_on"))));
  }
}

async function putShelf(ids) {
  try {
    const r = await call("PUT", `/api/v1/rooms/${encodeURIComponent(S.room.id)}/shelf`, { product_ids: ids });
    S.shelf = r.shelf;
    for (const p of S.shelf) S.catalogue.set(p.id, p);
    if (!ids.includes(S.room.pinned_product_id)) S.room.pinned_product_id = null;
    renderShelf(); renderCatalogue();
  } catch (err) { toast(errorText(err), "error"); }
}

async function pin(productId) {
  try {
    const snap = await call("POST", `/api/v1/rooms/${encodeURIComponent(S.room.id)}/pin`, { product_id: productId });
    S.room.pinned_product_id = snap.pinned_product_id;
    renderShelf();
  } catch (err) { toast(errorText(err), "error"); }
}

let dragId = null;
function renderShelf() {
  const box = $("#shelf");
  box.replaceChildren();
  if (!S.shelf.length) { box.append(h("div.muted-empty", null, t("console.shelf_empty"))); }
  S.shelf.forEach((p, i) => {
    const pinned = S.room.pinned_product_id === p.id;
    const sale = [...S.sales.values()].find((s) => s.product_id === p.id);
    const row = h(`div.shelf-row${pinned ? ".pinned" : ""}`, { draggable: "true", dataset: { productId: p.id } },
      h("span.grip", { title: t("console.drag_hint") }, "⋮⋮"),
      h("span.idx", null, String(i + 1)),
      productImage(p, "thumb"),
      h("div.grow", null,
        h("div.ptitle", null, pinned ? h("span.tag-pin", null, t("watch.explaining")) : null, sale ? h("span.tag-flash", null, t("watch.flash")) : null, p.title),
        h("div.pmeta", null, `${money(p.price_cents)} · ${t("console.stock")} ${p.stock}`),
      h("div.shelf-actions", null,
        h(`button.btn.sm${pinned ? ".ok" : ".primary"}.pin-btn`, { onclick: () => pin(pinned ? null : p.id) }, pinned ? t("console.unpin") : t("console.pin")),
        h("button.btn.sm.flash-btn", { onclick: () => prepareFlash(p) }, t("watch.flash")),
        h("button.btn.sm.ghost", { title: t("console.take_off"), onclick: () => putShelf(S.shelf.filter((x) => x.id !== p.id).map((x) => x.id)) }, t("console.take_off")))));
    row.addEventListener("dragstart", (e) => { dragId = p.id; row.classList.add("dragging"); e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", p.id); });
    row.addEventListener("dragend", () => { row.classList.remove("dragging"); dragId = null; });
    row.addEventListener("dragover", (e) => { e.preventDefault(); row.classList.add("over"); });
    row.addEventListener("dragleave", () => row.classList.remove("over"));
    row.addEventListener("drop", (e) => {
      e.preventDefault(); row.classList.remove("over");
      const from = dragId || e.dataTransfer.getData("text/plain");
      if (!from || from === p.id) return;
      const ids = S.shelf.map((x) => x.id).filter((x) => x !== from);
      ids.splice(ids.indexOf(p.id) + (i > S.shelf.findIndex((x) => x.id === from) ? 1 : 0), 0, from);
      putShelf(ids);
    });
    box.append(row);
  });
  const sel = $("#flash-product");
  const cur = sel.value;
  sel.replaceChildren(...S.shelf.map((p) => h("option", { value: p.id }, `${p.title}（${money(p.price_cents)}）`)));
  if (cur && S.shelf.find((p) => p.id === cur)) sel.value = cur;
}

// --- flash sales ---------------------------------------------------------------------------
function prepareFlash(p) {
  $("#flash-product").value = p.id;
  const f = $("#flash-form");
  f.price.value = ""; f.price.focus();
  $("#flash-card").scrollIntoView({ behavior: "smooth", block: "center" });
  $("#flash-card").classList.add("glow");
  setTimeout(() => $("#flash-card").classList.remove("glow"), 1200);
}

$("#flash-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const price = parseYuan(f.price.value);
  if (!price) { toast(t("console.bad_price"), "error"); return; }
  const body = { product_id: f.product_id.value, price_cents: price, quantity: Number(f.quantity.value),
    per_user_limit: Number(f.limit.value), start_in_s: 0, duration_s: Number(f.duration.value) };
  try {
    const sale = await call("POST", `/api/v1/rooms/${encodeURIComponent(S.room.id)}/flash-sales`, body);
    S.sales.set(sale.id, sale);
    renderSales(); renderShelf();
    toast(t("console.flash_started"), "ok");
  } catch (err) { toast(errorText(err), "error"); }
});

function renderSales() {
  const box = $("#sales");
  box.replaceChildren();
  for (const s of S.sales.values()) {
    const p = S.catalogue.get(s.product_id) || { title: s.product_id };
    const pct = s.quantity ? Math.round((s.remaining * 100) / s.quantity) : 0;
    const running = s.status === "running";
    box.append(h(`div.sale.st-${s.status}`, { dataset: { saleId: s.id } },
      h("div.sale-top", null, h("b", null, p.title), h("span.sale-price", null, money(s.price_cents))),
      h("div.sale-mid", null,
        h("span", null, running ? t("watch.ends_in") : t("watch.starts_in")),
        h("span.cd", { dataset: { until: running ? s.ends_at : s.starts_at } }, countdown(msUntil(running ? s.ends_at : s.starts_at))),
        h("span.sale-left", null, `${t("console.remaining")} ${s.remaining}/${s.quantity} · ${t("console.limit_n", { n: s.per_user_limit })}`)),
      h("div.bar", null, h("div.fill", { style: { width: `${pct}%` } })),
      h("button.btn.sm.danger", { onclick: () => endSale(s) }, t("console.end_flash"))));
  }
}

async function endSale(s) {
  try {
    await call("POST", `/api/v1/flash-sales/${encodeURIComponent(s.id)}/end`, {});
    S.sales.delete(s.id); renderSales(); renderShelf();
  } catch (err) { toast(errorText(err), "error"); }
}

// --- dashboard -----------------------------------------------------------------------------------
async function loadSeries(roomId) {
  // History from the per-minute series (extension), then live points every 2 s.
  try {
    const r = await call("GET", `/api/v1/rooms/${encodeURIComponent(roomId)}/stats/series`);
    let gmv = 0;
    S.series = (r.minutes || []).map((m) => { gmv += m.gmv_cents; return { t: Date.parse(m.minute), viewers: m.viewers, gmv }; });
  } catch (e) { S.series = []; }
}

async function loadFunnel() {
  const box = $("#funnel");
  try {
    const f = await call("GET", `/api/v1/rooms/${encodeURIComponent(S.room.id)}/stats/funnel`);
    const top = Math.max(1, f.room[f.stages[0]] || 0);
    box.replaceChildren(...f.stages.map((st) => {
      const n = f.room[st] || 0;
      return h("div.fun-row", null, h("span.fun-k", null, t(`funnel.${st}`)),
        h("div.fun-bar", null, h("div.fun-fill", { style: { width: `${Math.round((n * 100) / top)}%` } })),
        h("span.fun-v", null, String(n)));
    }));
  } catch (e) { box.replaceChildren(); }
}

async function pollStats() {
  if (!S.room) return;
  const roomId = S.room.id;
  try {
    const st = await call("GET", `/api/v1/rooms/${encodeURIComponent(roomId)}/stats`);
    if (!S.room || S.room.id !== roomId) return;
    S.stats = st;
    $("#stats-note").textContent = "";
  } catch (err) {
    S.stats = null;
    $("#stats-note").textContent = err.status === 404 ? t("console.stats_live_only") : "";
  }
  const viewers = S.stats ? S.stats.viewers_now : S.viewers;
  S.series.push({ t: serverNow(), viewers, gmv: S.stats ? S.stats.gmv_cents : 0 });
  if (S.series.length > 900) S.series.shift();
  renderTiles();
  drawChart();
  refreshCoupons();
  if (S.stats && (S.funnelTick = (S.funnelTick || 0) + 1) % 3 === 1) loadFunnel();
}

function renderTiles() {
  const st = S.stats || {};
  const tiles = [
    ["viewers_now", compact(st.viewers_now ?? S.viewers), "hot"],
    ["likes", compact(st.likes ?? S.likes)],
    ["orders", String(st.orders ?? 0)],
    ["gmv", money(st.gmv_cents ?? 0), "money"],
    ["conversion", percent(st.conversion_rate ?? 0)],
    ["visitors", compact(st.visitors ?? 0)],
    ["peak", compact(st.peak_viewers ?? S.viewers)],
    ["aov", money(st.aov_cents ?? 0)],
  ];
  $("#tiles").replaceChildren(...tiles.map(([k, v, cls]) =>
    h(`div.tile${cls ? `.${cls}` : ""}`, { dataset: { stat: k } }, h("div.tile-k", null, t(`stats.${k}`)), h("div.tile-v", null, v))));
}

function drawChart() {
  const c = $("#chart");
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth || 400, hgt = 180;
  c.width = w * dpr; c.height = hgt * dpr;
  const g = c.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, hgt);
  const pad = { l: 34, r: 46, t: 10, b: 22 };
  const pw = w - pad.l - pad.r, ph = hgt - pad.t - pad.b;
  g.strokeStyle = "#eef0f5"; g.lineWidth = 1;
  g.font = "10px sans-serif"; g.fillStyle = "#8a8f9c";
  for (let i = 0; i <= 4; i++) { const y = pad.t + (ph * i) / 4; g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke(); }
  const pts = S.series;
  if (pts.length < 2) { g.fillText(t("console.chart_wait"), pad.l + 8, pad.t + ph / 2); return; }
  const t0 = pts[0].t, t1 = pts[pts.length - 1].t || t0 + 1;
  const vmax = Math.max(5, ...pts.map((p) => p.viewers));
  const gmax = Math.max(100, ...pts.map((p) => p.gmv));
  const x = (tt) => pad.l + ((tt - t0) / Math.max(1, t1 - t0)) * pw;
  // GMV area (right axis)
  const grad = g.createLinearGradient(0, pad.t, 0, pad.t + ph);
  grad.addColorStop(0, "rgba(255,106,0,.35)"); grad.addColorStop(1, "rgba(255,106,0,0)");
  g.beginPath(); g.moveTo(x(pts[0].t), pad.t + ph);
  for (const p of pts) g.lineTo(x(p.t), pad.t + ph - (p.gmv / gmax) * ph);
  g.lineTo(x(pts[pts.length - 1].t), pad.t + ph); g.closePath(); g.fillStyle = grad; g.fill();
  g.beginPath(); pts.forEach((p, i) => { const yy = pad.t + ph - (p.gmv / gmax) * ph; i ? g.lineTo(x(p.t), yy) : g.moveTo(x(p.t), yy); });
  g.strokeStyle = "#ff6a00"; g.lineWidth = 2; g.stroke();
  // viewers line (left axis)
  g.beginPath(); pts.forEach((p, i) => { const yy = pad.t + ph - (p.viewers / vmax) * ph; i ? g.lineTo(x(p.t), yy) : g.moveTo(x(p.t), yy); });
  g.strokeStyle = "#ff2d55"; g.lineWidth = 2; g.stroke();
  g.fillStyle = "#ff2d55"; g.fillText(String(vmax), 4, pad.t + 8); g.fillText("0", 4, pad.t + ph);
  g.fillStyle = "#ff6a00"; g.textAlign = "right"; g.fillText(money(gmax), w - 2, pad.t + 8); g.fillText("¥0", w - 2, pad.t + ph);
  g.fillStyle = "#8a8f9c"; g.textAlign = "left";
  const fmt = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  g.fillText(fmt(t0), pad.l, hgt - 6); g.textAlign = "right"; g.fillText(fmt(t1), w - pad.r, hgt - 6);
}
window.addEventListener("resize", drawChart);

// --- orders --------------------------------------------------------------------------------------
async function loadOrders() {
  if (!S.room) return;
  const box = $("#orders");
  try {
    const r = await call("GET", `/api/v1/orders?room_id=${encodeURIComponent(S.room.id)}`);
    const list = (r.orders || []).slice(0, 30);
    box.replaceChildren(...(list.length ? list.map(orderRow) : [h("div.muted-empty", null, t("watch.no_orders"))]));
  } catch (err) {
    box.replaceChildren(h("div.muted-empty", null, err.status === 404 || err.status === 405 ? t("console.orders_soon") : errorText(err)));
  }
}
function orderRow(o) {
  const titles = (o.items || []).map((it) => `${(S.catalogue.get(it.product_id) || {}).title || "?"} ×${it.quantity}`).join("，");
  return h(`div.order-row.st-${o.status}`, { dataset: { orderId: o.id } },
    h("div.grow", null, h("div.ptitle", null, titles), h("div.pmeta", null, `${fmtTime(o.created_at)} · ${o.id.slice(-8)}${o.leader_id ? ` · ${t("console.via_leader")}` : ""}`)),
    h("div.order-right", null, h("b", null, money(o.total_cents)), h("span.ostatus", null, t(`order.${o.status}`)),
      o.status === "paid" ? h("button.btn.sm.ghost", { onclick: () => refund(o) }, t("console.refund")) : null));
}
async function refund(o) {
  if (!confirm(t("console.confirm_refund"))) return;
  try { await call("POST", `/api/v1/orders/${encodeURIComponent(o.id)}/refund`, {}); loadOrders(); } catch (err) { toast(errorText(err), "error"); }
}
$("#orders-refresh").addEventListener("click", loadOrders);

// --- share ---------------------------------------------------------------------------------------
function renderShare() {
  const r = S.room;
  const watch = `${location.origin}/watch/${r.id}`;
  const embed = `<div data-live-room="${r.id}"></div>\n<script src="${location.origin}/static/embed.js" async></script>`;
  const copy = (text) => async () => { try { await navigator.clipboard.writeText(text); toast(t("common.copied"), "ok"); } catch (e) { prompt("", text); } };
  $("#share").replaceChildren(
    h("div.share-row", null, h("span.k", null, t("console.watch_link")), h("span.mono.grow", null, watch), h("button.btn.sm", { onclick: copy(watch) }, t("common.copy"))),
    h("div.share-row", null, h("span.k", null, t("console.embed_code")), h("span.mono.grow", null, embed), h("button.btn.sm", { onclick: copy(embed) }, t("common.copy"))),
    h("div.share-row", null, h("span.k", null, t("console.invite_code")), h("span.mono.grow", null, S.inviteCode || "—"), h("span.hint", null, t("console.invite_hint"))),
    h("div.hint", null, t("console.share_hint")));
}

// --- growth: coupons, 拼团, 福袋 ------------------------------------------------------------------
const GROWTH_FORMS = {
  coupon: [["title", "text", "console.g_title", "满50减5"], ["discount", "text", "console.g_discount", "5.00"], ["min_spend", "text", "console.g_min_spend", "50"],
    ["quantity", "number", "console.quantity", "100"], ["valid_for_s", "number", "console.g_valid", "3600"]],
  group: [["product_id", "product", "console.product"], ["price", "text", "console.g_price", "29.90"], ["group_size", "number", "console.g_size", "3"], ["window_s", "number", "console.g_window", "600"]],
  draw: [["prize", "text", "console.g_prize", "脐橙一箱"], ["winners", "number", "console.g_winners", "3"], ["keyword", "text", "console.g_keyword", "我要橙子"], ["duration_s", "number", "console.duration", "120"]],
};
$$("[data-growth]").forEach((b) => b.addEventListener("click", () => growthForm(b.dataset.growth)));
function growthForm(kind) {
  const f = h("form.growth-form", { dataset: { kind } });
  for (const [name, type, label, def] of GROWTH_FORMS[kind]) {
    const input = type === "product"
      ? h("select", { name }, ...S.shelf.map((p) => h("option", { value: p.id }, p.title)))
      : h("input", { name, type, value: def || "", required: name !== "keyword" && name !== "min_spend" });
    f.append(h("label.field", null, h("span", null, t(label)), input));
  }
  f.append(h("div.btn-row", null, h("button.btn.primary.sm", { type: "submit" }, t("common.create")),
    h("button.btn.sm.ghost", { type: "button", onclick: () => f.remove() }, t("common.cancel"))));
  f.addEventListener("submit", async (e) => { e.preventDefault(); await createGrowth(kind, new FormData(f)); f.remove(); });
  $("#growth-form").replaceChildren(f);
}
async function createGrowth(kind, fd) {
  const rid = encodeURIComponent(S.room.id);
  try {
    if (kind === "coupon") {
      const disc = String(fd.get("discount")).trim();
      const body = { title: fd.get("title"), quantity: Number(fd.get("quantity")), valid_for_s: Number(fd.get("valid_for_s")),
        min_spend_cents: parseYuan(fd.get("min_spend") || "0") || 0 };
      if (disc.endsWith("%")) body.discount_bps = Math.round(Number(disc.slice(0, -1)) * 100); else body.discount_cents = parseYuan(disc);
      upsert(S.growth.coupons, await call("POST", `/api/v1/rooms/${rid}/coupons`, body));
    } else if (kind === "group") {
      upsert(S.growth.group_buys, await call("POST", `/api/v1/rooms/${rid}/group-buys`, { product_id: fd.get("product_id"),
        price_cents: parseYuan(fd.get("price")), group_size: Number(fd.get("group_size")), window_s: Number(fd.get("window_s")) }));
    } else {
      const kw = String(fd.get("keyword") || "").trim();
      upsert(S.growth.draws, await call("POST", `/api/v1/rooms/${rid}/draws`, { prize: fd.get("prize"), winners: Number(fd.get("winners")),
        eligibility: kw ? "chatted" : "joined", ...(kw ? { keyword: kw } : {}), duration_s: Number(fd.get("duration_s")) }));
    }
    renderGrowthList();
    toast(t("common.done"), "ok");
  } catch (err) { toast(err.status === 404 || err.status === 405 ? t("console.growth_soon") : errorText(err), "error"); }
}
function renderGrowthList() {
  const g = S.growth || { coupons: [], group_buys: [], draws: [] };
  const rows = [];
  for (const c of g.coupons) {
    const off = c.discount_cents ? money(c.discount_cents) : `${c.discount_bps / 100}%`;
    rows.push(h("div.g-row.g-coupon", { dataset: { couponId: c.id } }, h("span.g-ico.coupon", null, t("console.ico_coupon")),
      h("div.grow", null, h("div.g-title", null, c.title, h("span.g-tag", null, off)),
        h("div.g-meta", null, `${c.min_spend_cents ? `${t("promo.min_spend", { amount: money(c.min_spend_cents) })} · ` : ""}${t("console.coupon_claimed", { n: c.quantity - c.remaining })} · ${t("console.remaining")} ${c.remaining}/${c.quantity}`)),
      h("span.cd", { dataset: { until: c.expires_at } }, countdown(msUntil(c.expires_at)))));
  }
  for (const gb of g.group_buys) {
    const groups = [...S.groups.values()].filter((x) => x.group_buy_id === gb.id);
    const open = groups.filter((x) => x.status === "open").length, done = groups.filter((x) => x.status === "complete").length;
    rows.push(h("div.g-row.g-group", { dataset: { groupBuyId: gb.id } }, h("span.g-ico.group", null, t("console.ico_group")),
      h("div.grow", null, h("div.g-title", null, (S.catalogue.get(gb.product_id) || {}).title || "", h("span.g-tag", null, `${gb.group_size}${t("console.people")} ${money(gb.price_cents)}`)),
        h("div.g-meta", null, `${t("console.g_open", { n: open })} · ${t("console.g_done", { n: done })}`))));
  }
  for (const d of g.draws) {
    const running = d.status === "running";
    const names = S.winners.get(d.id);
    const row = h(`div.g-row.g-draw.st-${d.status}`, { dataset: { drawId: d.id } }, h("span.g-ico.draw", null, t("console.ico_draw")),
      h("div.grow", null, h("div.g-title", null, d.prize, h("span.g-tag", null, d.keyword ? `「${d.keyword}」` : t("console.g_all"))),
        h("div.g-meta", null, running ? t("console.draw_running") : `${t("console.drawn", { n: (d.winner_ids || []).length })} · ${t("console.draw_eligible", { n: Array.isArray(d.eligible) ? d.eligible.length : d.eligible_count ?? 0 })}`),
        !running ? h("div.draw-winners", null, h("span.k", null, `${t("console.draw_winners")}：`),
          names ? (names.length ? names.map((w) => h("span.winner", { dataset: { viewerId: w.viewer_id } }, w.nickname || w.viewer_id.slice(-6))) : t("console.draw_none")) : "…") : null),
      running ? h("div.g-side", null, h("span.cd", { dataset: { until: d.ends_at } }, countdown(msUntil(d.ends_at))),
        h("button.btn.sm.primary.draw-end-btn", { onclick: () => endDraw(d) }, t("console.draw_end"))) : null);
    rows.push(row);
  }
  $("#growth-list").replaceChildren(...rows);
}
async function endDraw(d) {
  try {
    // The answer carries `eligible` (the list), the room event `eligible_count`: keep both.
    const out = await call("POST", `/api/v1/draws/${encodeURIComponent(d.id)}/end`, {});
    const known = S.growth.draws.find((x) => x.id === d.id) || d;
    upsert(S.growth.draws, { ...known, ...out });
    loadWinners(out); renderGrowthList();
  }
  catch (err) { toast(errorText(err), "error"); }
}
async function loadWinners(d) {
  try {
    const r = await call("GET", `/api/v1/draws/${encodeURIComponent(d.id)}/winners`);
    S.winners.set(d.id, r.winners || []);
    renderGrowthList();
  } catch (err) { /* the ids still show in the count */ }
}
async function loadGroups() {
  for (const gb of S.growth.group_buys) {
    try { for (const x of (await call("GET", `/api/v1/group-buys/${encodeURIComponent(gb.id)}`)).groups || []) S.groups.set(x.id, x); } catch (e) { /* later events fill it */ }
  }
  renderGrowthList();
}
async function refreshCoupons() {
  // Claims send no room event: the coupon's remaining is read back while the console is open.
  for (const c of (S.growth && S.growth.coupons) || []) {
    try { upsert(S.growth.coupons, await call("GET", `/api/v1/coupons/${encodeURIComponent(c.id)}`)); } catch (e) { /* keep */ }
  }
  if (S.growth && S.growth.coupons.length) renderGrowthList();
}

// --- camera and publishing ------------------------------------------------------------------------
async function cameraOn() {
  if (S.camera) return S.camera;
  try {
    S.camera = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 }, audio: true });
  } catch (e) {
    try { S.camera = await navigator.mediaDevices.getUserMedia({ video: true, audio: true }); }
    catch (e2) { toast(t("console.camera_denied"), "error"); return null; }
  }
  $("#preview").srcObject = S.camera;
  $("#preview-ph").hidden = true;
  $("#cam-on").textContent = t("console.camera_off_btn");
  return S.camera;
}
function cameraOff() {
  if (S.publisher) return;
  if (S.camera) S.camera.getTracks().forEach((tr) => tr.stop());
  S.camera = null;
  $("#preview").srcObject = null;
  $("#preview-ph").hidden = false;
  $("#cam-on").textContent = t("console.camera_on");
}
$("#cam-on").addEventListener("click", () => (S.camera ? cameraOff() : cameraOn()));

async function publish() {
  const cam = await cameraOn();
  if (!cam) return;
  const video = await loadVideo();
  if (!video || !video.publish) { toast(t("console.video_soon"), "error"); return; }
  setPubState("connecting");
  try {
    S.publisher = await video.publish(S.room.id, S.token, cam, {
      onstate: (st) => {
        if (st === "connected") setPubState("on");
        else if (st === "failed" || st === "closed" || st === "disconnected") {
          if (S.publisher) toast(t("console.pub_lost"), "error");
          S.publisher = null; setPubState("off");
        }
      },
    });
    setPubState("on");
    if (S.room.status === "scheduled" && confirm(t("console.also_go_live"))) setStatus("live");
    healthLoop();
  } catch (err) {
    S.publisher = null; setPubState("off");
    toast(errorText(err), "error");
  }
}
async function unpublish() {
  try { if (S.publisher && S.publisher.stop) await S.publisher.stop(); } catch (e) { /* already gone */ }
  S.publisher = null;
  setPubState("off");
}
function setPubState(s) {
  const el = $("#pub-state");
  el.className = `pill ${s === "on" ? "st-live" : s === "connecting" ? "st-scheduled" : "st-ended"}`;
  el.textContent = t(`console.pub_${s}`);
  $("#publish").hidden = s !== "off";
  $("#unpublish").hidden = s === "off";
  $("#health").hidden = s !== "on";
}
async function healthLoop() {
  while (S.publisher && S.room) {
    try {
      const v = await call("GET", `/api/v1/rooms/${encodeURIComponent(S.room.id)}/video`);
      $("#health").textContent = v.publishing ? `${v.width || "?"}×${v.height || "?"} · ${v.fps || 0}fps · ${v.bitrate_kbps || 0}kbps · ${t("stats.viewers_now")} ${v.viewers ?? 0}` : t("console.pub_connecting");
    } catch (e) { $("#health").textContent = t("console.pub_on"); }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
$("#publish").addEventListener("click", publish);
$("#unpublish").addEventListener("click", unpublish);
setPubState("off");

$("#playback-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const playback = { kind: f.kind.value };
  if (f.url.value.trim()) playback.url = f.url.value.trim();
  try {
    applySnapshot(await call("PUT", `/api/v1/rooms/${encodeURIComponent(S.room.id)}/playback`, { playback }));
    toast(t("common.saved"), "ok");
  } catch (err) { toast(errorText(err), "error"); }
});

// countdowns
setInterval(() => $$("[data-until]").forEach((el) => { el.textContent = countdown(msUntil(el.dataset.until)); }), 250);

// --- boot -------------------------------------------------------------------------------------------
async function boot() {
  if (!S.token) { showAuth(); return; }
  try {
    const me = await call("GET", "/api/v1/me");
    if (!me.account || me.account.role !== "host") throw Object.assign(new Error("not host"), { status: 401 });
    S.account = me.account; S.inviteCode = me.invite_code;
  } catch (err) {
    if (err.status === 401 || err.status === 403) { store.set("live.host.token", null); S.token = null; showAuth(); return; }
    toast(errorText(err), "error"); return;
  }
  $("#auth").hidden = true; $("#app").hidden = false;
  $("#me-name").textContent = S.account.name;
  await loadRooms();
  await loadCatalogue();
  const want = new URLSearchParams(location.search).get("room");
  const pick = (want && S.rooms.find((r) => r.id === want)) || S.rooms.find((r) => r.status === "live") || S.rooms[0];
  if (pick) await selectRoom(pick.id);
  window.__console = S;
}
boot();
