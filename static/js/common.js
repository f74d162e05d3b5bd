// Shared by every page: API calls, money, time, i18n, toasts, small DOM helpers.
import { DICT } from "./i18n.js";

// --- language ------------------------------------------------------------------
const params = new URLSearchParams(location.search);
export const lang = (() => {
  const q = params.get("lang");
  if (q === "en" || q === "zh") { try { localStorage.setItem("live.lang", q); } catch (e) {} return q; }
  try { return localStorage.getItem("live.lang") === "en" ? "en" : "zh"; } catch (e) { return "zh"; }
})();
document.documentElement.lang = lang === "en" ? "en" : "zh-CN";

export function t(key, vars) {
  let s = (DICT[lang] && DICT[lang][key]) ?? DICT.zh[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
  return s;
}

/** Fill [data-i18n] (textContent), [data-i18n-ph] (placeholder), [data-i18n-title]. */
export function applyI18n(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-ph]").forEach((el) => { el.placeholder = t(el.dataset.i18nPh); });
  root.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  if (document.body.dataset.titleKey) document.title = t(document.body.dataset.titleKey);
}

/** A link that toggles zh-CN / English, keeping the rest of the URL. */
export function langToggle(el) {
  el.textContent = lang === "en" ? "中文" : "EN";
  el.addEventListener("click", (e) => {
    e.preventDefault();
    const u = new URL(location.href);
    u.searchParams.set("lang", lang === "en" ? "zh" : "en");
    location.href = u.toString();
  });
}

// --- money and numbers ---------------------------------------------------------
/** Integer 分 → "¥123.45" (no floats on the way). */
export function money(cents) {
  if (cents === null || cents === undefined || !Number.isFinite(Number(cents))) return "¥—";
  let c = Math.trunc(Number(cents));
  const neg = c < 0; if (neg) c = -c;
  const yuan = Math.floor(c / 100), fen = c % 100;
  return `${neg ? "-" : ""}¥${yuan}.${String(fen).padStart(2, "0")}`;
}

/** "123.45" or "12" (yuan text from a form) → integer 分, or null when not a price. */
export function parseYuan(text) {
  const m = String(text ?? "").trim().match(/^(\d{1,8})(?:\.(\d{1,2}))?$/);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
}

export function percent(rate) {
  // rate is a fraction 0..1 with 4 decimals: show one decimal of a percent.
  const bp = Math.round(Number(rate || 0) * 10000); // basis points, integer
  return `${Math.floor(bp / 100)}.${Math.floor((bp % 100) / 10)}%`;
}

export function compact(n) {
  n = Number(n || 0);
  if (lang === "zh" && n >= 10000) return `${(Math.floor(n / 1000) / 10)}万`;
  if (lang === "en" && n >= 10000) return `${(Math.floor(n / 100) / 10)}k`;
  return String(n);
}

// --- server time ---------------------------------------------------------------
// Countdowns use the server_time of the latest snapshot: offset = server - local.
let clockOffsetMs = 0;
export function syncClock(serverTime) {
  const s = Date.parse(serverTime);
  if (Number.isFinite(s)) clockOffsetMs = s - Date.now();
}
export function serverNow() { return Date.now() + clockOffsetMs; }
export function msUntil(iso) { return Date.parse(iso) - serverNow(); }
export function countdown(ms) {
  ms = Math.max(0, ms);
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const pad = (x) => String(x).padStart(2, "0");
  return h ? `${pad(h)}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}
export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(lang === "en" ? "en-GB" : "zh-CN",
    { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

// --- API -----------------------------------------------------------------------
export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (error && error.code) || (status >= 500 ? "internal" : "invalid");
    this.fields = (error && error.fields) || [];
    this.retryAfter = error && error.retry_after_s;
  }
}

export async function api(method, path, body, { token, headers } = {}) {
  const h = { Accept: "application/json", ...(headers || {}) };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (token) h.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, { code: "network", message: String(e) });
  }
  let data = null;
  const text = await resp.text();
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!resp.ok) throw new ApiError(resp.status, data && data.error);
  return data;
}

/** A clear, translated sentence for an API or Socket.IO error. */
export function errorText(err) {
  const code = err && (err.code || (err.error && err.error.code));
  const retry = err && (err.retryAfter ?? err.retry_after_s ?? (err.error && err.error.retry_after_s));
  const key = `err.${code}`;
  let msg = t(key);
  if (msg === key) msg = (err && (err.message || (err.error && err.error.message))) || t("err.unknown");
  if (code === "rate_limited" && retry) msg += t("err.retry_after", { s: Math.ceil(retry) });
  if (code === "invalid" && err.fields && err.fields.length) {
    msg += ` (${err.fields.map((f) => f.field).filter(Boolean).join(", ")})`;
  }
  return msg;
}

// --- tokens --------------------------------------------------------------------
export const store = {
  get(k) { try { return localStorage.getItem(k); } catch (e) { return null; } },
  set(k, v) { try { v === null ? localStorage.removeItem(k) : localStorage.setItem(k, v); } catch (e) {} },
  json(k) { try { return JSON.parse(localStorage.getItem(k) || "null"); } catch (e) { return null; } },
  setJson(k, v) { try { localStorage.setItem(k, JSON.stringify(v)); } catch (e) {} },
};

// --- DOM -----------------------------------------------------------------------
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** h("div.card", {onclick}, "text", child): textContent only, never innerHTML. */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
      else if (k === "class") el.className += (el.className ? " " : "") + v;
      else if (k in el && typeof v !== "string") el[k] = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let toastBox = null;
/** A short message at the top of the page. kind: info | error | ok */
export function toast(text, kind = "info", ms = 2600) {
  if (!toastBox) {
    toastBox = h("div.toasts", { role: "status", "aria-live": "polite" });
    document.body.append(toastBox);
  }
  const el = h(`div.toast.toast-${kind}`, null, text);
  toastBox.append(el);
  setTimeout(() => { el.classList.add("out"); setTimeout(() => el.remove(), 300); }, ms);
  return el;
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function initial(name) { return (String(name || "?").trim()[0] || "?").toUpperCase(); }

/** Load the video helper written by the video engineer, if it is there. */
export async function loadVideo() {
  try { return await import("/static/js/video.js"); } catch (e) { return null; }
}

/** Product image, or a soft placeholder with the first character. */
export function productImage(p, cls = "pimg") {
  if (p && p.image_url) {
    const img = h(`img.${cls}`, { src: p.image_url, alt: "", loading: "lazy" });
    img.addEventListener("error", () => img.replaceWith(h(`div.${cls}.pimg-ph`, null, initial(p.title))));
    return img;
  }
  return h(`div.${cls}.pimg-ph`, null, initial(p && p.title));
}
