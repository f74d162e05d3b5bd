// The player's 裂变 growth tools: coupon cards, 拼团 groups, 福袋 draws and the
// 开播提醒 reminder. watch.js owns the room state and calls in here; this module
// only talks to the public API and renders (textContent only, like everything).
import { $, api, countdown, errorText, fmtTime, h, money, msUntil, productImage, t, toast } from "./common.js";

/** Coupon maths as the contract gives it: the amount (at most the total), or
 * floor(total × bps / 10000). Integer 分 only. */
export function couponDiscount(coupon, totalCents) {
  if (!coupon || totalCents < (coupon.min_spend_cents || 0)) return 0;
  if (coupon.discount_cents) return Math.min(coupon.discount_cents, totalCents);
  return Math.min(totalCents, Math.floor((totalCents * (coupon.discount_bps || 0)) / 10000));
}

export function couponValue(c) {
  if (c.discount_cents) return money(c.discount_cents);
  // 1000 bps off = 9折; keep one decimal place of 折 without floats (8500 bps off → 1.5折)
  const keep = 10000 - c.discount_bps;
  return t("promo.zhe", { n: keep % 1000 ? `${Math.floor(keep / 1000)}.${Math.floor((keep % 1000) / 100)}` : String(keep / 1000) });
}

export function couponRule(c) {
  return c.min_spend_cents ? t("promo.min_spend", { amount: money(c.min_spend_cents) }) : t("promo.no_min");
}

/** A window in words: 600 → "10分钟", 7200 → "2小时", 45 → "45秒". */
export function span(seconds) {
  if (seconds >= 3600 && seconds % 3600 === 0) return t("promo.hours", { n: seconds / 3600 });
  if (seconds >= 60 && seconds % 60 === 0) return t("promo.minutes", { n: seconds / 60 });
  return t("promo.seconds", { n: seconds });
}

export class Promos {
  /** ctx: {state, roomId, token(), sysChat(text), sendChat(text) → ack, openGroupCheckout(offer, groupId), openSheet(tab)} */
  constructor(ctx) {
    this.ctx = ctx;
    this.claims = new Map();     // coupon_id → my claim
    this.groups = new Map();     // group id → group (as the server last told)
    this.myGroups = new Set();   // group ids I hold an order in
    this.entered = new Set();    // draw ids I took part in (keyword sent)
    this.subscribed = false;
    this.subscribers = null;
    $("#gmodal-x").addEventListener("click", () => this.closeModal());
    $("#gmodal").addEventListener("click", (e) => { if (e.target.id === "gmodal") this.closeModal(); });
    $("#remind-btn").addEventListener("click", () => this.toggleReminder());
    $("#live-banner-x").addEventListener("click", () => { $("#live-banner").hidden = true; });
  }

  get state() { return this.ctx.state; }
  call(method, path, body) { return api(method, path, body, { token: this.ctx.token() }); }

  // --- loading ---------------------------------------------------------------------
  async load() {
    await Promise.all([this.loadClaims(), this.loadGroups(), this.loadReminder()]);
    this.render();
  }

  async loadClaims() {
    try {
      const r = await this.call("GET", "/api/v1/me/coupons");
      this.claims = new Map((r.claims || []).filter((c) => c.room_id === this.ctx.roomId).map((c) => [c.coupon_id, c]));
    } catch (e) { /* no claims shown; the card still offers to claim */ }
  }

  async loadGroups() {
    // The snapshot's offers carry their open groups (an extension); an offer
    // without them (a `group_buy` event) is read once.
    await Promise.all([...this.state.groupBuys.values()].map((gb) => {
      if (!Array.isArray(gb.groups)) return this.loadOffer(gb.id);
      for (const g of gb.groups) this.groups.set(g.id, g);
      return null;
    }));
  }

  async loadOffer(id) {
    try {
      const offer = await api("GET", `/api/v1/group-buys/${encodeURIComponent(id)}`);
      for (const g of offer.groups || []) this.groups.set(g.id, g);
    } catch (e) { /* the offer list still shows */ }
  }

  noteOrders(orders) {
    for (const o of orders) if (o.group_id && !["cancelled", "expired"].includes(o.status)) this.myGroups.add(o.group_id);
    this.renderGroups();
  }

  // --- events ------------------------------------------------------------------------
  onCoupon(c, replay) {
    this.state.coupons.set(c.id, c);
    this.render();
    if (!replay) this.showCoupon(c);
  }

  onGroupBuy(gb) {
    this.state.groupBuys.set(gb.id, gb);
    this.render();
  }

  onGroup(g, replay) {
    const before = this.groups.get(g.id);
    this.groups.set(g.id, g);
    if (!replay && (!before || before.status !== g.status)) {
      const mine = this.myGroups.has(g.id);
      if (g.status === "complete" && mine) { this.ctx.sysChat(t("watch.group_complete")); toast(t("watch.group_complete"), "ok", 4000); }
      if (g.status === "failed" && mine) toast(t("promo.group_failed"), "error", 5000);
    }
    this.renderGroups();
    this.renderChips();
  }

  onDraw(d, replay) {
    if (d.status === "ended") {
      this.state.draws.delete(d.id);
      if (!replay) {
        const won = !!(this.state.me && (d.winner_ids || []).includes(this.state.me.id));
        this.ctx.sysChat(won ? t("watch.draw_won", { prize: d.prize }) : t("watch.draw_ended", { prize: d.prize, n: (d.winner_ids || []).length }));
        this.showDrawResult(d, won);
      }
    } else {
      this.state.draws.set(d.id, d);
      if (!replay) { this.ctx.sysChat(t("watch.draw_started", { prize: d.prize })); this.showDraw(d); }
    }
    this.renderChips();
  }

  onChatSent(text) {
    // A keyword chat enters the running draw (the server decides; this is what we show).
    for (const d of this.state.draws.values()) {
      if (d.eligibility === "chatted" && d.keyword && text.includes(d.keyword)) this.entered.add(d.id);
    }
    if ($("#gmodal").dataset.kind === "draw") this.showDraw(this.state.draws.get($("#gmodal").dataset.id));
  }

  onStatus(status, replay) {
    this.renderReminder();
    if (status === "live" && !replay) {
      $("#live-banner-text").textContent = this.subscribed ? t("promo.live_now_reminded") : t("promo.live_now");
      $("#live-banner").hidden = false;
      this.ctx.sysChat(t("promo.live_now"));
      this.subscribed = false;
    }
  }

  // --- rendering -----------------------------------------------------------------------
  render() {
    this.renderChips();
    this.renderGroups();
    this.renderReminder();
  }

  renderChips() {
    const box = $("#promo-stack");
    box.replaceChildren();
    for (const c of this.state.coupons.values()) {
      if (msUntil(c.expires_at) <= 0) continue;
      const claimed = this.claims.has(c.id);
      box.append(h(`button.promo.coupon${claimed ? ".claimed" : ""}`, { onclick: () => this.showCoupon(c), title: c.title, dataset: { couponId: c.id } },
        h("span.promo-k", null, claimed ? t("promo.claimed_short") : t("watch.coupon")), h("span.promo-v", null, couponValue(c))));
    }
    for (const gb of this.state.groupBuys.values()) {
      const open = [...this.groups.values()].filter((g) => g.group_buy_id === gb.id && g.status === "open" && msUntil(g.expires_at) > 0).length;
      box.append(h("button.promo.group", { onclick: () => this.ctx.openSheet("groups"), dataset: { groupBuyId: gb.id } },
        h("span.promo-k", null, t("promo.group_chip", { n: gb.group_size })),
        h("span.promo-v", null, open ? t("promo.open_n", { n: open }) : money(gb.price_cents))));
    }
    for (const d of this.state.draws.values()) {
      if (d.status === "ended") continue;
      box.append(h("button.promo.draw", { onclick: () => this.showDraw(d), title: d.prize, dataset: { drawId: d.id } },
        h("span.promo-k", null, t("watch.draw")),
        h("span.promo-v.cd", { dataset: { until: d.ends_at } }, countdown(msUntil(d.ends_at)))));
    }
    $("#tab-btn-groups").hidden = this.state.groupBuys.size === 0;
  }

  // --- coupons -------------------------------------------------------------------------
  showCoupon(c, fresh = false) {
    if (!fresh) {
      // Claims send no room event: read `remaining` back, then show it again if still open.
      api("GET", `/api/v1/coupons/${encodeURIComponent(c.id)}`).then((now) => {
        Object.assign(c, now);
        if ($("#gmodal").dataset.kind === "coupon" && $("#gmodal").dataset.id === c.id) this.showCoupon(c, true);
      }).catch(() => {});
    }
    const claimed = this.claims.get(c.id);
    const soldOut = !claimed && c.remaining <= 0;
    const btn = h("button.claim-btn", { disabled: !!claimed || soldOut, onclick: () => this.claim(c) },
      claimed ? t("promo.claimed") : soldOut ? t("promo.coupon_gone") : t("promo.claim"));
    this.openModal("coupon", c.id, h("div.coupon-card", { dataset: { couponId: c.id } },
      h("div.gc-head", null, t("promo.coupon_head")),
      h("div.ticket", null,
        h("div.ticket-left", null, h("div.ticket-value", null, couponValue(c)), h("div.ticket-rule", null, couponRule(c))),
        h("div.ticket-right", null, h("div.ticket-title", null, c.title),
          h("div.ticket-meta", null, t("promo.valid_until", { time: fmtTime(c.expires_at) })),
          h("div.ticket-meta", null, t("promo.left", { n: c.remaining, total: c.quantity })))),
      h("div.gc-note", null, claimed ? t("promo.claimed_note") : t("promo.coupon_note")),
      btn));
  }

  async claim(c) {
    try {
      const r = await this.call("POST", `/api/v1/coupons/${encodeURIComponent(c.id)}/claim`, {});
      this.claims.set(c.id, r.claim);
      c.remaining = Math.max(0, c.remaining - 1);
      toast(t("watch.coupon_claimed", { title: c.title }), "ok");
      this.showCoupon(c, true);
      this.renderChips();
    } catch (e) {
      if (e.code === "limit_exceeded") { await this.loadClaims(); this.showCoupon(c, true); this.renderChips(); }
      toast(errorText(e), "error");
    }
  }

  /** My unused claims of this room's live coupons, each with its coupon. */
  usableClaims() {
    const out = [];
    for (const [couponId, claim] of this.claims) {
      const coupon = this.state.coupons.get(couponId) || claim.coupon;
      if (claim.status === "unused" && coupon && msUntil(claim.expires_at) > 0) out.push({ claim, coupon });
    }
    return out;
  }

  // --- 拼团 ----------------------------------------------------------------------------
  groupLink(groupId) {
    const u = new URL(`/watch/${encodeURIComponent(this.ctx.roomId)}`, location.origin);
    u.searchParams.set("group", groupId);
    if (this.ctx.shareToken) u.searchParams.set("s", this.ctx.shareToken); // the 团长 still gets the credit
    return u.toString();
  }

  renderGroups() {
    const tab = $("#tab-groups");
    tab.replaceChildren();
    if (!this.state.groupBuys.size) { tab.append(h("div.empty", null, t("promo.no_groups"))); return; }
    for (const gb of this.state.groupBuys.values()) {
      const p = this.state.shelf.find((x) => x.id === gb.product_id) || { title: "", price_cents: 0 };
      tab.append(h("div.gb-offer", { dataset: { groupBuyId: gb.id } },
        productImage(p, "item-img"),
        h("div.item-body", null,
          h("div.item-title", null, h("span.gb-tag", null, t("promo.group_chip", { n: gb.group_size })), p.title),
          h("div.price", null, h("span.now", null, money(gb.price_cents)), p.price_cents ? h("s.was", null, money(p.price_cents)) : null),
          h("div.gb-rule", null, t("promo.group_rule", { n: gb.group_size, window: span(gb.window_s) }))),
        h("button.buy-btn.small.gb-open-btn", { disabled: this.state.status !== "live", onclick: () => this.ctx.openGroupCheckout(gb, null) }, t("promo.open_group"))));
      const groups = [...this.groups.values()].filter((g) => g.group_buy_id === gb.id)
        .sort((a, b) => (this.myGroups.has(b.id) - this.myGroups.has(a.id)) || a.expires_at.localeCompare(b.expires_at));
      const shown = groups.filter((g) => g.status !== "open" ? this.myGroups.has(g.id) : msUntil(g.expires_at) > 0 || this.myGroups.has(g.id));
      const joinable = shown.some((g) => g.status === "open" && !this.myGroups.has(g.id));
      if (shown.length) tab.append(h("div.gb-sub", null, joinable ? t("promo.groups_now") : t("promo.my_groups")));
      for (const g of shown) tab.append(this.groupRow(gb, g));
    }
  }

  groupRow(gb, g) {
    const mine = this.myGroups.has(g.id);
    const need = Math.max(0, g.group_size - g.members);
    const seats = Array.from({ length: g.group_size }, (_, i) => h(`span.seat${i < g.members ? ".on" : ""}`, null, i < g.members ? "✓" : "?"));
    let state;
    if (g.status === "complete") state = h("div.gb-state.done", null, t("promo.group_done"));
    else if (g.status === "failed") state = h("div.gb-state.failed", null, t("promo.group_failed"));
    else state = h("div.gb-state", null, t("promo.group_need", { n: need }), " · ",
      h("span.cd", { dataset: { until: g.expires_at } }, countdown(msUntil(g.expires_at))), ` ${t("promo.after_end")}`);
    const row = h(`div.gb-group.st-${g.status}${mine ? ".mine" : ""}`, { dataset: { groupId: g.id } },
      h("div.gb-seats", null, ...seats),
      h("div.gb-info", null, h("div.gb-count", null, t("promo.members", { members: g.members, size: g.group_size }), mine ? h("span.gb-mine", null, t("promo.my_group")) : null), state));
    if (g.status === "open" && !mine && msUntil(g.expires_at) > 0) {
      row.append(h("button.buy-btn.small.gb-join-btn", { disabled: this.state.status !== "live", onclick: () => this.ctx.openGroupCheckout(gb, g.id) }, t("promo.join_group")));
    }
    const wrap = h("div.gb-group-wrap", null, row);
    if (mine && g.status === "open") {
      const link = this.groupLink(g.id);
      wrap.append(h("div.gb-share", null, h("span.gb-share-k", null, t("promo.invite")),
        h("input.gb-link", { value: link, readOnly: true, onclick: (e) => e.target.select() }),
        h("button.gb-copy", { onclick: async () => {
          try { await navigator.clipboard.writeText(link); toast(t("common.copied"), "ok"); } catch (e) { toast(link); }
        } }, t("promo.copy_invite"))));
    }
    return wrap;
  }

  // --- 福袋 --------------------------------------------------------------------------------
  showDraw(d) {
    if (!d) return;
    const entered = d.eligibility === "joined" || this.entered.has(d.id);
    const how = d.eligibility === "chatted"
      ? h("div.gc-note", null, t("promo.draw_how_keyword", { keyword: d.keyword }))
      : h("div.gc-note", null, t("promo.draw_how_joined"));
    this.openModal("draw", d.id, h("div.draw-card", { dataset: { drawId: d.id } },
      h("div.gc-head", null, t("promo.draw_head")),
      h("div.draw-bag", null, h("span", null, t("promo.bag_char"))),
      h("div.draw-prize", null, d.prize),
      h("div.draw-meta", null, t("promo.draw_winners", { n: d.winners }), " · ", t("promo.draw_left"), " ",
        h("span.cd", { dataset: { until: d.ends_at } }, countdown(msUntil(d.ends_at)))),
      how,
      entered
        ? h("div.draw-in", null, t("promo.draw_entered"))
        : h("button.claim-btn.draw-join-btn", { onclick: () => this.enterDraw(d) }, t("promo.draw_send", { keyword: d.keyword })),
      h("div.gc-fine", null, t("promo.commitment"), h("span.mono", null, d.commitment))));
  }

  async enterDraw(d) {
    const ack = await this.ctx.sendChat(d.keyword);
    if (ack && ack.ok) { this.entered.add(d.id); this.showDraw(d); } else toast(errorText(ack && ack.error), "error");
  }

  showDrawResult(d, won) {
    this.openModal("draw-result", d.id, h(`div.draw-result${won ? ".won" : ".lost"}`, { id: "draw-result", dataset: { drawId: d.id } },
      h(`div.draw-bag${won ? ".won" : ""}`, null, h("span", null, won ? t("promo.won_char") : t("promo.bag_char"))),
      h("div.draw-title", null, won ? t("promo.won") : t("promo.lost")),
      h("div.draw-prize", null, d.prize),
      h("div.gc-note", null, won ? t("promo.won_note") : t("promo.lost_note", { n: (d.winner_ids || []).length, count: d.eligible_count ?? 0 })),
      h("details.gc-fine", null, h("summary", null, t("promo.verify")),
        h("div", null, t("promo.commitment"), h("span.mono", null, d.commitment)),
        h("div", null, t("promo.seed"), h("span.mono", null, d.seed || "")))));
  }

  // --- reminder ----------------------------------------------------------------------------
  async loadReminder() {
    if (this.state.status !== "scheduled") return;
    try {
      const r = await this.call("GET", "/api/v1/me/subscriptions");
      this.subscribed = (r.subscriptions || []).some((s) => s.room_id === this.ctx.roomId && !s.notified_at);
    } catch (e) { this.subscribed = false; }
  }

  renderReminder() {
    const box = $("#remind");
    const room = this.state.room;
    box.hidden = this.state.status !== "scheduled";
    if (box.hidden) return;
    $("#remind-when").textContent = room && room.scheduled_at ? t("promo.starts_at", { time: fmtTime(room.scheduled_at) }) : t("promo.starts_soon");
    $("#remind-btn").textContent = this.subscribed ? t("promo.reminded") : t("promo.remind_me");
    $("#remind-btn").classList.toggle("on", this.subscribed);
    $("#remind-count").textContent = this.subscribers !== null ? t("promo.subscribers", { n: this.subscribers }) : t("promo.remind_hint");
  }

  async toggleReminder() {
    try {
      const r = await this.call(this.subscribed ? "DELETE" : "POST", `/api/v1/rooms/${encodeURIComponent(this.ctx.roomId)}/subscribe`);
      this.subscribed = r.subscribed;
      this.subscribers = r.subscribers;
      if (r.subscribed) toast(t("promo.remind_ok"), "ok");
    } catch (e) { toast(errorText(e), "error"); }
    this.renderReminder();
  }

  // --- the modal ---------------------------------------------------------------------------
  openModal(kind, id, body) {
    const m = $("#gmodal");
    m.dataset.kind = kind; m.dataset.id = id;
    $("#gmodal-body").replaceChildren(body);
    m.hidden = false;
  }
  closeModal() {
    const m = $("#gmodal");
    m.hidden = true; m.dataset.kind = ""; m.dataset.id = "";
  }
}
