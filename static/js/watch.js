// The viewer player: /watch/{room_id} and /embed/{room_id}.
import {
  $, $$, api, applyI18n, countdown, errorText, h, initial, langToggle, loadVideo, money, msUntil,
  productImage, store, syncClock, t, toast, uuid, compact, lang,
} from "./common.js";
import { RoomStream } from "./realtime.js";
import { Promos, couponDiscount, couponValue } from "./promos.js";

const roomId = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const params = new URLSearchParams(location.search);
const embedded = location.pathname.startsWith("/embed/");
const shareKey = `live.share.${roomId}`;
const shareToken = params.get("s") || store.get(shareKey);
if (params.get("s")) store.set(shareKey, params.get("s"));
const groupParam = params.get("group");

const state = {
  room: null,
  me: null,
  token: null,
  shelf: [],
  pinnedId: null,
  sales: new Map(),       // flash sale id → sale (not ended)
  coupons: new Map(),
  groupBuys: new Map(),
  draws: new Map(),
  chatIds: new Set(),
  cart: { items: [], total_cents: 0 },
  cartLocal: new Map(),   // product_id → quantity
  orders: [],
  muted: false,
  banned: false,
  status: "scheduled",
  checkoutKey: null,      // Idempotency-Key of the checkout being placed
  checkoutBody: null,
  fulfilment: "pickup",
};
let stream = null;
const promos = new Promos({
  state, roomId, shareToken,
  token: () => state.token,
  sysChat: (text) => sysChat(text),
  sendChat: async (text) => {
    if (!stream) return { ok: false, error: { code: "not_joined" } };
    const ack = await stream.chat(text);
    if (ack && ack.ok) promos.onChatSent(text);
    return ack;
  },
  openSheet: (tab) => openSheet(tab),
  openGroupCheckout: (offer, groupId) => { state.groupBuy = { offer, groupId }; openSheet("cart"); },
});
let videoMod = null;
let videoHandle = null;

if (embedded) document.body.classList.add("embed");
applyI18n();
langToggle($("#lang"));

// --- identity --------------------------------------------------------------------
async function viewer() {
  const saved = store.json("live.viewer");
  if (saved && saved.token) {
    try {
      const me = await api("GET", "/api/v1/me", undefined, { token: saved.token });
      if (me.viewer) return { token: saved.token, viewer: me.viewer };
    } catch (e) {
      if (e.status !== 401 && e.status !== 403) return saved; // offline: keep it
    }
  }
  const nick = params.get("nick") || `${t("watch.guest")}${Math.floor(1000 + Math.random() * 9000)}`;
  const made = await api("POST", "/api/v1/viewers", { nickname: nick.slice(0, 24) });
  store.setJson("live.viewer", made);
  return made;
}

// --- rendering -------------------------------------------------------------------
function statusLabel(s) { return t(`status.${s}`); }

function renderHeader() {
  const r = state.room;
  if (!r) return;
  const name = (r.host && r.host.name) || "";
  $("#host-avatar").textContent = initial(name);
  $("#poster-avatar").textContent = initial(name);
  $("#host-name").textContent = name;
  $("#room-title").textContent = r.title || "";
  document.title = `${r.title} · ${t("watch.title")}`;
  const badge = $("#live-badge");
  badge.textContent = statusLabel(state.status);
  badge.className = `live-badge st-${state.status}`;
  $("#poster-text").textContent = state.status === "ended" ? t("watch.ended")
    : state.status === "scheduled" ? t("watch.not_started") : t("watch.waiting");
  document.body.classList.toggle("is-ended", state.status === "ended");
}

function setViewers(n) { $("#viewers-count").textContent = compact(n); }
function setLikes(n) { $("#likes-count").textContent = compact(n); }

function saleFor(productId) {
  let best = null;
  for (const s of state.sales.values()) {
    if (s.product_id !== productId || s.status === "ended") continue;
    if (!best || s.status === "running") best = s;
  }
  return best;
}

function saleRunning(s) { return s && s.status === "running" && msUntil(s.ends_at) > 0; }

function priceBlock(p, big = false) {
  const s = saleFor(p.id);
  const wrap = h(`div.price${big ? ".big" : ""}`);
  if (saleRunning(s)) {
    wrap.append(h("span.flash-tag", null, t("watch.flash")), h("span.now", null, money(s.price_cents)),
      h("s.was", null, money(p.price_cents)));
  } else {
    wrap.append(h("span.now", null, money(p.price_cents)));
    if (s && s.status === "scheduled") wrap.append(h("span.soon", null, `${t("watch.flash")} ${money(s.price_cents)}`));
  }
  return wrap;
}

function stockBar(s) {
  const pct = s.quantity ? Math.max(0, Math.min(100, Math.round((s.remaining * 100) / s.quantity))) : 0;
  return h("div.stockbar", null,
    h("div.stockfill", { style: { width: `${pct}%` } }),
    h("span.stocktext", null, s.remaining > 0 ? t("watch.left", { n: s.remaining }) : t("watch.sold_out")));
}

function renderPinned() {
  const box = $("#pinned");
  const p = state.shelf.find((x) => x.id === state.pinnedId);
  box.replaceChildren();
  if (!p) { box.hidden = true; return; }
  box.hidden = false;
  const s = saleFor(p.id);
  const running = saleRunning(s);
  const body = h("div.pin-body", null,
    h("div.pin-title", null, h("span.explaining", null, t("watch.explaining")), p.title),
    priceBlock(p));
  if (s && running) {
    body.append(h("div.pin-flash", null,
      h("span.cd-label", null, t("watch.ends_in")), h("span.cd", { dataset: { until: s.ends_at } }, countdown(msUntil(s.ends_at)))),
    stockBar(s));
  } else if (s && s.status === "scheduled") {
    body.append(h("div.pin-flash.soon", null,
      h("span.cd-label", null, t("watch.starts_in")), h("span.cd", { dataset: { until: s.starts_at } }, countdown(msUntil(s.starts_at)))));
  }
  const soldOut = running ? s.remaining <= 0 : p.stock <= 0;
  const btn = h("button.buy-btn", { disabled: soldOut || state.status !== "live", onclick: () => buyNow(p.id) },
    soldOut ? t("watch.sold_out") : running ? t("watch.grab") : t("watch.buy"));
  box.classList.toggle("flashing", running);
  box.append(productImage(p, "pin-img"), body, btn);
}

function renderShelf() {
  $("#shelf-count").textContent = String(state.shelf.length);
  const tab = $("#tab-shelf");
  tab.replaceChildren();
  if (!state.shelf.length) { tab.append(h("div.empty", null, t("watch.shelf_empty"))); return; }
  state.shelf.forEach((p, i) => {
    const s = saleFor(p.id);
    const running = saleRunning(s);
    const soldOut = running ? s.remaining <= 0 : p.stock <= 0;
    const gb = [...state.groupBuys.values()].find((g) => g.product_id === p.id);
    const row = h("div.item", { dataset: { productId: p.id } },
      h("div.item-no", null, String(i + 1)),
      productImage(p, "item-img"),
      h("div.item-body", null,
        h("div.item-title", null, p.id === state.pinnedId ? h("span.explaining", null, t("watch.explaining")) : null, p.title),
        priceBlock(p),
        running ? stockBar(s) : h("div.item-stock", null, p.stock > 0 ? t("watch.stock", { n: p.stock }) : t("watch.sold_out")),
        gb ? h("button.link-btn", { onclick: () => openSheet("groups") }, t("watch.group_buy", { n: gb.group_size, price: money(gb.price_cents) })) : null),
      h("div.item-actions", null,
        h("button.add-btn", { disabled: soldOut, onclick: () => addToCart(p.id) }, t("watch.add")),
        h("button.buy-btn.small", { disabled: soldOut || state.status !== "live", onclick: () => buyNow(p.id) },
          running ? t("watch.grab") : t("watch.buy"))));
    tab.append(row);
  });
}

function renderAll() {
  renderHeader();
  renderPinned();
  renderShelf();
  promos.render();
}

// --- chat --------------------------------------------------------------------------
function addChat(msg, { system = false } = {}) {
  const box = $("#chat");
  if (msg.id && state.chatIds.has(msg.id)) return;
  if (msg.id) state.chatIds.add(msg.id);
  const mine = state.me && msg.user && msg.user.id === state.me.id;
  const line = h(`div.msg${system ? ".sys" : ""}${mine ? ".mine" : ""}`, { dataset: { id: msg.id || "" } });
  if (!system) line.append(h("span.nick", null, `${(msg.user && msg.user.nickname) || ""}：`));
  line.append(h("span.text", null, msg.text));   // text only, never HTML
  box.append(line);
  while (box.children.length > 80) box.firstElementChild.remove();
  box.scrollTop = box.scrollHeight;
}
function sysChat(text) { addChat({ text }, { system: true }); }

function deleteChat(id) {
  const el = $(`#chat .msg[data-id="${CSS.escape(id)}"]`);
  if (el) el.remove();
}

// --- events --------------------------------------------------------------------------
function onSnapshot(snap) {
  state.room = snap;
  syncClock(snap.server_time);
  state.status = snap.status;
  state.shelf = snap.shelf || [];
  state.pinnedId = snap.pinned_product_id || null;
  state.sales = new Map((snap.flash_sales || []).map((s) => [s.id, s]));
  state.coupons = new Map((snap.coupons || []).map((c) => [c.id, c]));
  state.groupBuys = new Map((snap.group_buys || []).map((g) => [g.id, g]));
  state.draws = new Map((snap.draws || []).map((d) => [d.id, d]));
  setViewers(snap.viewers || 0);
  setLikes(snap.likes || 0);
  renderAll();
  maybePlay();
  if (state.token) promos.load();
}

function onEvent(ev, { replay }) {
  const d = ev.data || {};
  switch (ev.type) {
    case "chat": addChat(d); break;
    case "chat_deleted": deleteChat(d.id); break;
    case "likes": setLikes(d.total); break;
    case "viewers": setViewers(d.count); break;
    case "pin":
      state.pinnedId = d.product ? d.product.id : null;
      if (d.product) {
        const i = state.shelf.findIndex((p) => p.id === d.product.id);
        if (i >= 0) state.shelf[i] = { ...state.shelf[i], ...d.product };
      }
      renderPinned(); renderShelf(); break;
    case "shelf": state.shelf = d.products || []; renderShelf(); renderPinned(); break;
    case "flash":
      if (d.status === "ended") state.sales.delete(d.id); else state.sales.set(d.id, d);
      if (!replay && d.status === "running" && msUntil(d.ends_at) > 0) {
        const p = state.shelf.find((x) => x.id === d.product_id);
        sysChat(t("watch.flash_started", { title: p ? p.title : "", price: money(d.price_cents) }));
      }
      renderPinned(); renderShelf(); break;
    case "stock":
      if (d.flash_sale_id) {
        const s = state.sales.get(d.flash_sale_id);
        if (s) s.remaining = d.remaining;
      } else {
        const p = state.shelf.find((x) => x.id === d.product_id);
        if (p) p.stock = d.remaining;
      }
      renderPinned(); renderShelf(); break;
    case "purchase": if (!replay) buyToast(d); break;
    case "status":
      state.status = d.status; renderHeader(); renderPinned(); renderShelf(); promos.onStatus(d.status, replay);
      if (d.status === "live") maybePlay();
      if (d.status === "ended") { sysChat(t("watch.ended")); stopVideo(); }
      break;
    case "moderation": onModeration(d, replay); break;
    case "coupon": promos.onCoupon(d, replay); break;
    case "group_buy": promos.onGroupBuy(d); renderShelf(); if (!replay) sysChat(t("promo.group_new", { n: d.group_size, price: money(d.price_cents) })); break;
    case "group": promos.onGroup(d, replay); loadOrdersIfShown(); break;
    case "draw": promos.onDraw(d, replay); break;
    default: break;
  }
}

function onModeration(d, replay) {
  const me = state.me && d.user_id === state.me.id;
  if (d.action === "slow_mode") {
    if (!replay) sysChat(d.seconds ? t("watch.slow_on", { s: d.seconds }) : t("watch.slow_off"));
    return;
  }
  if (!me) return;
  if (d.action === "mute") { state.muted = true; sysChat(t("watch.you_muted")); }
  if (d.action === "unmute") { state.muted = false; sysChat(t("watch.you_unmuted")); }
  if (d.action === "ban") banned();
}

function banned() {
  state.banned = true;
  $("#conn").hidden = false;
  $("#conn").textContent = t("err.banned");
  $("#chat-input").disabled = true;
  if (stream) stream.stop();
}

const masks = [];
function buyToast(d) {
  const box = $("#buy-toasts");
  const el = h("div.buy-toast", null, h("span.who", null, d.nickname || "小*"),
    ` ${t("watch.just_bought")} `, h("b", null, d.product_title || ""), d.quantity > 1 ? ` ×${d.quantity}` : "");
  box.append(el);
  masks.push(el);
  while (box.children.length > 2) box.firstElementChild.remove();
  setTimeout(() => { el.classList.add("out"); setTimeout(() => el.remove(), 400); }, 3200);
}

// --- likes ----------------------------------------------------------------------------
let pendingLikes = 0;
function like() {
  pendingLikes += 1;
  const n = Number(($("#likes-count").dataset.raw || 0));
  floatHeart();
  if (!like.timer) like.timer = setTimeout(flushLikes, 400);
}
async function flushLikes() {
  like.timer = null;
  const count = Math.min(50, pendingLikes);
  pendingLikes -= count;
  if (count > 0 && stream) {
    const ack = await stream.like(count);
    if (ack && !ack.ok && ack.error && ack.error.code === "rate_limited") { /* hearts still float */ }
  }
  if (pendingLikes > 0) like.timer = setTimeout(flushLikes, 400);
}
const HEARTS = ["❤", "💖", "💗", "🧡", "💛", "💜"];
function floatHeart() {
  const el = h("span.heart", { style: { left: `${Math.round(Math.random() * 40)}px`,
    animationDuration: `${1.6 + Math.random() * 0.9}s` } }, HEARTS[Math.floor(Math.random() * HEARTS.length)]);
  $("#hearts").append(el);
  setTimeout(() => el.remove(), 2600);
}

// --- shelf, cart, checkout -------------------------------------------------------------
function openSheet(tab) {
  if (tab === "shelf" || tab === "cart") track("product_opened");
  $("#sheet").classList.add("open");
  $("#sheet").setAttribute("aria-hidden", "false");
  $("#backdrop").hidden = false;
  showTab(tab);
}
function closeSheet() {
  $("#sheet").classList.remove("open");
  $("#sheet").setAttribute("aria-hidden", "true");
  $("#backdrop").hidden = true;
}
function showTab(tab) {
  $$(".sheet-tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  for (const name of ["shelf", "cart", "groups", "orders"]) $(`#tab-${name}`).hidden = name !== tab;
  if (tab === "cart") renderCart();
  if (tab === "groups") promos.renderGroups();
  if (tab === "orders") loadOrders();
}

async function syncCart() {
  const items = [...state.cartLocal.entries()].filter(([, q]) => q > 0)
    .map(([product_id, quantity]) => ({ product_id, quantity }));
  try {
    state.cart = await api("PUT", `/api/v1/rooms/${encodeURIComponent(roomId)}/cart`, { items }, { token: state.token });
  } catch (e) {
    // No cart API (yet): price locally from what the room shows.
    const priced = items.map((it) => {
      const p = state.shelf.find((x) => x.id === it.product_id) || {};
      const s = saleFor(it.product_id);
      const unit = saleRunning(s) ? s.price_cents : p.price_cents || 0;
      return { ...it, unit_price_cents: unit, flash_sale_id: saleRunning(s) ? s.id : null };
    });
    state.cart = { items: priced, total_cents: priced.reduce((a, x) => a + x.unit_price_cents * x.quantity, 0) };
    if (e.status && e.status !== 404 && e.status !== 405) toast(errorText(e), "error");
  }
  const n = state.cart.items.reduce((a, x) => a + x.quantity, 0);
  $("#cart-count").hidden = n === 0;
  $("#cart-count").textContent = String(n);
}

let tracked = new Set();
function track(event) {
  // Funnel steps the server cannot see (stats extension); once per page view.
  if (tracked.has(event) || !state.token) return;
  tracked.add(event);
  api("POST", `/api/v1/rooms/${encodeURIComponent(roomId)}/track`, { event }, { token: state.token }).catch(() => {});
}

async function addToCart(productId) {
  track("added_to_cart");
  state.cartLocal.set(productId, (state.cartLocal.get(productId) || 0) + 1);
  await syncCart();
  toast(t("watch.added"), "ok", 1200);
}

async function buyNow(productId) {
  track("added_to_cart");
  state.groupBuy = null;
  if (!state.cartLocal.get(productId)) state.cartLocal.set(productId, 1);
  await syncCart();
  openSheet("cart");
}

function qtyControl(it) {
  const set = async (q) => { state.cartLocal.set(it.product_id, q); if (q <= 0) state.cartLocal.delete(it.product_id); await syncCart(); renderCart(); };
  return h("div.qty", null,
    h("button", { onclick: () => set(it.quantity - 1), "aria-label": "-" }, "−"),
    h("span", null, String(it.quantity)),
    h("button", { onclick: () => set(it.quantity + 1), "aria-label": "+" }, "+"));
}

function loadOrdersIfShown() {
  if (!$("#tab-orders").hidden && $("#sheet").classList.contains("open")) loadOrders();
}

async function renderCart() {
  const tab = $("#tab-cart");
  tab.replaceChildren();
  const gbuy = state.groupBuy;
  let items = state.cart.items;
  let total = state.cart.total_cents;
  if (gbuy) {
    const p = state.shelf.find((x) => x.id === gbuy.offer.product_id) || { title: "" };
    items = [{ product_id: p.id, quantity: 1, unit_price_cents: gbuy.offer.price_cents }];
    total = gbuy.offer.price_cents;
    tab.append(h("div.notice", null, gbuy.groupId ? t("watch.group_join") : t("watch.group_open", { n: gbuy.offer.group_size })));
    const g = gbuy.groupId && promos.groups.get(gbuy.groupId);
    if (g) {
      tab.append(h("div.gb-join-info", null, t("promo.members", { members: g.members, size: g.group_size }), " · ",
        t("promo.group_need", { n: Math.max(0, g.group_size - g.members) }), " · ",
        h("span.cd", { dataset: { until: g.expires_at } }, countdown(msUntil(g.expires_at))), ` ${t("promo.after_end")}`));
    }
  }
  if (!items.length) { tab.append(h("div.empty", null, t("watch.cart_empty"))); return; }
  const list = h("div.cart-list");
  for (const it of items) {
    const p = state.shelf.find((x) => x.id === it.product_id) || { title: it.product_id };
    list.append(h("div.cart-row", { dataset: { productId: it.product_id } }, productImage(p, "item-img"),
      h("div.item-body", null, h("div.item-title", null, p.title),
        h("div.price", null, it.flash_sale_id ? h("span.flash-tag", null, t("watch.flash")) : null,
          h("span.now", null, money(it.unit_price_cents)))),
      gbuy ? h("span.qtytext", null, "×1") : qtyControl(it)));
  }
  tab.append(list);

  const form = h("form.checkout", { id: "checkout" });
  const pick = (kind) => { state.fulfilment = kind; renderCart(); };
  form.append(h("div.seg", null,
    h("button", { type: "button", class: state.fulfilment === "pickup" ? "active" : "", onclick: () => pick("pickup") }, t("watch.pickup")),
    h("button", { type: "button", class: state.fulfilment === "delivery" ? "active" : "", onclick: () => pick("delivery") }, t("watch.delivery"))));
  const saved = store.json("live.fulfilment") || {};
  if (state.fulfilment === "pickup") {
    form.append(h("label.field", null, h("span", null, t("watch.point")),
      h("input", { name: "point", maxlength: 100, required: true, value: saved.point || "", placeholder: t("watch.point_ph") })));
  } else {
    form.append(h("label.field", null, h("span", null, t("watch.address")),
      h("textarea", { name: "address", maxlength: 300, required: true, rows: 2, placeholder: t("watch.address_ph") }, saved.address || "")));
  }
  // Coupons: the best one that applies is chosen for the viewer; the server
  // checks it again and its answer is what is paid.
  const usable = gbuy ? [] : promos.usableClaims();
  const discountRow = h("div.discount-row", { hidden: true }, h("span", null, t("watch.discount")), h("b", { id: "cart-discount" }));
  const totalEl = h("b.total", { id: "cart-total" }, money(total));
  if (usable.length) {
    const best = usable.reduce((a, x) => (couponDiscount(x.coupon, total) > couponDiscount(a ? a.coupon : null, total) ? x : a), null);
    const wanted = state.couponChoice === undefined ? (best && best.claim.id) : state.couponChoice;
    const sel = h("select", { name: "coupon", id: "coupon-select" }, h("option", { value: "" }, t("watch.no_coupon")),
      ...usable.map(({ claim, coupon }) => {
        const ok = total >= (coupon.min_spend_cents || 0);
        return h("option", { value: claim.id, disabled: !ok, selected: ok && claim.id === wanted },
          `${coupon.title} · ${couponValue(coupon)}${ok ? "" : ` · ${t("promo.not_reached")}`}`);
      }));
    const update = () => {
      const pick = usable.find((x) => x.claim.id === sel.value);
      const off = pick ? couponDiscount(pick.coupon, total) : 0;
      discountRow.hidden = !off;
      $("#cart-discount", discountRow).textContent = `-${money(off)}`;
      totalEl.textContent = money(total - off);
    };
    sel.addEventListener("change", () => { state.couponChoice = sel.value; update(); });
    form.append(h("label.field", null, h("span", null, `🎟 ${t("watch.coupon")}`), sel));
    queueMicrotask(update);
  }
  form.append(discountRow, h("div.total-row", null, h("span", null, t("watch.total")), totalEl),
    h("button.buy-btn.wide", { type: "submit", disabled: state.status !== "live" }, t("watch.place_order")));
  form.addEventListener("submit", (e) => { e.preventDefault(); placeOrder(form); });
  tab.append(form);
  if (state.status !== "live") tab.append(h("div.notice", null, t("err.room_not_live")));
}

async function placeOrder(form) {
  const fd = new FormData(form);
  const fulfilment = state.fulfilment === "pickup"
    ? { kind: "pickup", point: String(fd.get("point") || "").trim() }
    : { kind: "delivery", address: String(fd.get("address") || "").trim() };
  store.setJson("live.fulfilment", { ...(store.json("live.fulfilment") || {}), ...(fulfilment.point ? { point: fulfilment.point } : { address: fulfilment.address }) });
  const body = { room_id: roomId, fulfilment };
  const gbuy = state.groupBuy;
  if (gbuy) {
    body.items = [{ product_id: gbuy.offer.product_id, quantity: 1 }];
    body.group_buy_id = gbuy.offer.id;
    if (gbuy.groupId) body.group_id = gbuy.groupId;
  } else {
    body.items = state.cart.items.map((it) => ({ product_id: it.product_id, quantity: it.quantity }));
    const coupon = fd.get("coupon");
    if (coupon) body.coupon_claim_id = String(coupon);
  }
  if (shareToken) body.share_token = shareToken;
  // The same body retried (a lost answer) keeps its key: the server answers once.
  const sig = JSON.stringify(body);
  if (state.checkoutBody !== sig) { state.checkoutKey = uuid(); state.checkoutBody = sig; }
  const btn = form.querySelector("button[type=submit]");
  btn.disabled = true;
  try {
    const order = await api("POST", "/api/v1/orders", body, { token: state.token, headers: { "Idempotency-Key": state.checkoutKey } });
    state.checkoutKey = null; state.checkoutBody = null;
    if (!gbuy) { state.cartLocal.clear(); await syncCart(); }
    state.groupBuy = null; state.couponChoice = undefined;
    if (body.coupon_claim_id) promos.loadClaims();
    if (order.group_id) promos.noteOrders([order]);
    showOrder(order);
  } catch (e) {
    if (e.code !== "network") { state.checkoutKey = null; state.checkoutBody = null; }
    toast(errorText(e), "error", 3600);
    btn.disabled = false;
  }
}

function orderStatus(o) { return t(`order.${o.status}`); }

function orderCard(o) {
  const card = h(`div.order.st-${o.status}`, { dataset: { orderId: o.id } },
    h("div.order-head", null, h("span.order-no", null, `${t("watch.order_no")} ${o.id.slice(-8)}`),
      h("span.order-status", null, orderStatus(o))),
    ...(o.items || []).map((it) => {
      const p = state.shelf.find((x) => x.id === it.product_id) || {};
      return h("div.order-line", null, h("span", null, p.title || it.product_id), h("span", null, `${money(it.unit_price_cents)} ×${it.quantity}`));
    }),
    o.discount_cents ? h("div.order-line", null, h("span", null, t("watch.discount")), h("span", null, `-${money(o.discount_cents)}`)) : null,
    h("div.order-line.total", null, h("span", null, t("watch.total")), h("b", null, money(o.total_cents))));
  if (o.group_id) {
    const g = promos.groups.get(o.group_id);
    card.append(h("div.order-line.group-line", { dataset: { group: o.group_id } }, h("span", null, t("watch.group")),
      h("span", null, g ? `${t("promo.members", { members: g.members, size: g.group_size })} · ${t(`promo.gstatus_${g.status}`)}` : "")));
  }
  if (o.status === "pending_payment") {
    card.append(h("div.order-line.muted", null, t("watch.pay_within"),
      h("span.cd", { dataset: { until: o.expires_at } }, countdown(msUntil(o.expires_at)))));
    card.append(h("div.order-actions", null,
      h("button.ghost-btn", { onclick: () => cancelOrder(o) }, t("watch.cancel")),
      h("button.buy-btn.pay-btn", { onclick: () => payOrder(o) }, t("watch.pay"))));
  }
  if (o.status === "paid" && o.group_id && (promos.groups.get(o.group_id) || {}).status !== "complete") {
    card.append(h("div.order-actions", null, h("button.ghost-btn.invite-btn", { onclick: () => openSheet("groups") }, t("promo.go_invite"))));
  }
  return card;
}

function showOrder(o) {
  openSheet("orders");
  const tab = $("#tab-orders");
  tab.replaceChildren(orderCard(o));
  loadOrders(o);
}

async function loadOrders(first) {
  const tab = $("#tab-orders");
  try {
    const r = await api("GET", `/api/v1/orders?room_id=${encodeURIComponent(roomId)}`, undefined, { token: state.token });
    state.orders = r.orders || [];
    promos.noteOrders(state.orders);
  } catch (e) {
    if (!first) { tab.replaceChildren(h("div.empty", null, errorText(e))); return; }
  }
  const list = state.orders.slice();
  if (first && !list.find((o) => o.id === first.id)) list.unshift(first);
  tab.replaceChildren(...(list.length ? list.map(orderCard) : [h("div.empty", null, t("watch.no_orders"))]));
}

async function payOrder(o) {
  try {
    const paid = await api("POST", `/api/v1/orders/${encodeURIComponent(o.id)}/pay`, {}, { token: state.token });
    toast(t("watch.paid"), "ok");
    showOrder(paid);
  } catch (e) { toast(errorText(e), "error"); }
}

async function cancelOrder(o) {
  try {
    const c = await api("POST", `/api/v1/orders/${encodeURIComponent(o.id)}/cancel`, {}, { token: state.token });
    showOrder(c);
  } catch (e) { toast(errorText(e), "error"); }
}

// --- video -------------------------------------------------------------------------------
// video.js `play` follows the room's playback (built-in relay, external WHEP or
// HLS), keeps trying while nobody publishes and reports its state.
async function maybePlay() {
  if (videoHandle || state.status !== "live" || !state.room) return;
  const kind = state.room.playback && state.room.playback.kind;
  if (kind === "none") return;
  videoMod = videoMod || await loadVideo();
  if (!videoMod || !videoMod.play || videoHandle) return;
  const el = $("#video");
  videoHandle = await videoMod.play(roomId, state.token, el, {
    onstate: (s) => {
      const playing = s === "playing";
      document.body.classList.toggle("has-video", playing);
      $("#unmute").hidden = !(playing && el.muted);
      if (s === "over_capacity") $("#poster-text").textContent = t("err.over_capacity");
      else if (!playing) renderHeader();
    },
  });
}
function stopVideo() {
  if (videoHandle && videoHandle.stop) videoHandle.stop();
  videoHandle = null;
  document.body.classList.remove("has-video");
}

// --- ticking countdowns --------------------------------------------------------------------
setInterval(() => {
  let expired = false;
  $$("[data-until]").forEach((el) => {
    const ms = msUntil(el.dataset.until);
    el.textContent = countdown(ms);
    if (ms <= 0) expired = true;
  });
  if (expired && !tick.pending) {
    // A sale whose time is up: the server's flash event follows; re-render meanwhile.
    tick.pending = true;
    setTimeout(() => { tick.pending = false; renderPinned(); promos.renderChips(); promos.renderGroups(); }, 1200);
  }
}, 250);
const tick = { pending: false };

// --- wiring ----------------------------------------------------------------------------------
$("#like").addEventListener("click", like);
$("#open-shelf").addEventListener("click", () => openSheet("shelf"));
$("#open-orders").addEventListener("click", () => openSheet("orders"));
$("#backdrop").addEventListener("click", closeSheet);
$(".sheet-handle").addEventListener("click", closeSheet);
$$(".sheet-tabs button").forEach((b) => b.addEventListener("click", () => {
  if (b.dataset.tab === "cart") state.groupBuy = null;
  showTab(b.dataset.tab);
}));
$("#unmute").addEventListener("click", () => { $("#video").muted = false; $("#unmute").hidden = true; });
$("#chat-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("#chat-input");
  const text = input.value.trim();
  if (!text) return;
  if (!stream) return;
  const ack = await stream.chat(text);
  if (ack && ack.ok) { input.value = ""; promos.onChatSent(text); return; }
  toast(errorText(ack && ack.error), "error", 3200);
});

async function main() {
  if (!roomId) { $("#poster-text").textContent = t("err.not_found"); return; }
  try {
    const me = await viewer();
    state.token = me.token; state.me = me.viewer;
  } catch (e) { toast(errorText(e), "error"); return; }
  try {
    onSnapshot(await api("GET", `/api/v1/rooms/${encodeURIComponent(roomId)}`));
  } catch (e) {
    $("#poster-text").textContent = errorText(e);
    return;
  }
  stream = new RoomStream({
    roomId, token: state.token, shareToken,
    onSnapshot,
    onEvent,
    onState: (s) => {
      if (state.banned) return;
      $("#conn").hidden = s !== "offline";
      $("#conn").textContent = t("watch.reconnecting");
    },
    onError: (err) => {
      if (err.code === "forbidden") banned();
      else toast(errorText(err), "error", 4000);
    },
  }).start();
  window.__live = { state, stream };
  if (groupParam) {
    // Arrived by a 拼团 invite: find the offer of that group.
    try {
      const g = await api("GET", `/api/v1/groups/${encodeURIComponent(groupParam)}`);
      const offer = state.groupBuys.get(g.group_buy_id) ||
        await api("GET", `/api/v1/group-buys/${encodeURIComponent(g.group_buy_id)}`);
      if (!promos.groups.has(g.id)) promos.groups.set(g.id, g);
      if (g.status !== "open" || msUntil(g.expires_at) <= 0) {
        // Full or over: show the offer, where a new group can be started.
        toast(t("promo.group_closed"), "info", 3600);
        openSheet("groups");
      } else {
        state.groupBuy = { offer, groupId: g.id };
        openSheet("cart");
      }
    } catch (e) { /* the group is gone; the room still plays */ }
  }
  syncCart();
}
main();
