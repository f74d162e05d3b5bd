// The room list: /
import { $, $$, api, applyI18n, compact, errorText, fmtTime, h, initial, langToggle, money, t } from "./common.js";

applyI18n();
langToggle($("#lang"));
let status = "live";

async function load() {
  const grid = $("#grid");
  let rooms = [];
  try {
    const r = await api("GET", `/api/v1/rooms${status ? `?status=${status}` : ""}`);
    rooms = r.rooms || [];
  } catch (e) { grid.replaceChildren(h("div.iempty", null, errorText(e))); return; }
  if (!rooms.length) { grid.replaceChildren(h("div.iempty", null, t("index.empty"))); return; }
  grid.replaceChildren(...rooms.map((r) => {
    const p = (r.shelf || []).find((x) => x.id === r.pinned_product_id) || (r.shelf || [])[0];
    return h("a.rcard", { href: `/watch/${encodeURIComponent(r.id)}`, dataset: { roomId: r.id } },
      p && p.image_url ? h("img.rcard-img", { src: p.image_url, alt: "" }) : null,
      h("div.rcard-top", null, h(`span.rcard-badge.st-${r.status}`, null, t(`status.${r.status}`)),
        r.status === "live" ? h("span.rcard-viewers", null, `👥 ${compact(r.viewers)}`) : r.scheduled_at ? h("span.rcard-viewers", null, fmtTime(r.scheduled_at)) : null),
      h("div.rcard-bottom", null, h("div.rcard-title", null, r.title),
        p ? h("div.rcard-price", null, `${p.title} ${money(p.price_cents)}`) : null,
        h("div.rcard-host", null, h("span.av", null, initial(r.host && r.host.name)), (r.host && r.host.name) || "")));
  }));
}
$$("#filters button").forEach((b) => b.addEventListener("click", () => {
  status = b.dataset.status;
  $$("#filters button").forEach((x) => x.classList.toggle("active", x === b));
  load();
}));
load();
setInterval(load, 15000);
