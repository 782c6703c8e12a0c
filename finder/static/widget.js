// finder partner widget: a provider search form and its results, drawn inside a shadow
// root so the partner's page cannot restyle it. Partners paste:
//   <script src="https://FINDER/widget.js" data-finder-key="KEY" async></script>
// Optional data- attributes on that tag: finder-target (a CSS selector to render into),
// postcode (searches at once), q, radius, finder-embed (parent origins, iframe mode).
(() => {
  "use strict";

  const NETWORK = "Could not reach the directory. Check your connection and try again.";
  const NONE = "No providers found. Try a larger distance or fewer keywords.";
  const RADII = [5, 10, 25, 50, 100];
  const PAGE = 10;
  const ACCENT = "#0b6e4f";
  const HEX = /^#[0-9a-f]{3,8}$/i;
  // One family name: quoted, or words that are CSS identifiers ("12px" or a stray quote is not).
  const FAMILY = /^\s*(?:"[\w -]+"|'[\w -]+'|-?[a-z_][\w-]*(?:\s+-?[a-z_][\w-]*)*)\s*$/i;
  const STACK = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
  // Defaults that fill the form (or that the form sends itself); the others go with every search.
  const OWN = ["postcode", "city", "q", "radius", "unit", "lat", "lon", "limit", "offset", "key"];

  // Shared by every widget on the page. Sizes are in px, never rem: the host page's root
  // font size must not shrink or blow up the widget.
  const CSS = `
:host{all:initial!important;display:block!important;container-type:inline-size!important;
 direction:ltr!important;max-width:100%!important}
*,*::before,*::after{box-sizing:border-box;margin:0;padding:0;border:0;font:inherit;color:inherit;
 background:none;letter-spacing:normal;text-transform:none;text-align:left}
[hidden]{display:none!important}
.root{position:relative;display:block;background:var(--bg);color:var(--text);
 font-family:var(--font);font-size:16px;line-height:1.5;font-weight:400;font-style:normal;border:1px solid var(--line);border-radius:var(--r);padding:20px;
 overflow-wrap:anywhere;-webkit-text-size-adjust:100%;text-size-adjust:100%}
.head{display:flex;align-items:center;gap:12px;margin-bottom:16px}
.logo{flex:none;height:40px;width:auto;max-width:120px;object-fit:contain}
h2{font-size:20px;font-weight:700;line-height:1.3}
.by{font-size:14px;color:var(--muted)}
form{display:flex;flex-wrap:wrap;gap:12px 16px;align-items:flex-end}
.f{display:flex;flex-direction:column;gap:4px;flex:1 1 190px;min-width:0}
.f.d{flex:0 1 130px}
label{font-size:15px;font-weight:600}
input,select{display:block;width:100%;min-height:44px;padding:8px 12px;color:var(--text);
 background:var(--field-bg);border:1px solid var(--field);border-radius:var(--r-in)}
::placeholder{color:var(--muted);opacity:1}
.act{display:flex;flex-wrap:wrap;gap:8px 12px;flex:1 1 100%}
button{display:inline-flex;align-items:center;justify-content:center;min-height:44px;
 padding:8px 20px;font-weight:600;color:var(--accent);background:var(--bg);
 border:2px solid var(--accent);border-radius:var(--r-in);cursor:pointer;
 transition:background-color .15s,color .15s}
button:hover{background:var(--soft)}
.go,.go:hover{color:var(--on-accent);background:var(--accent)}
.go:hover{text-decoration:underline}
a{color:var(--accent);text-decoration:underline;text-underline-offset:2px}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
:focus:not(:focus-visible){outline:none}
.err{color:var(--bad);font-weight:600}
.err:not(:empty){margin-top:16px;padding:10px 14px;background:var(--bad-bg);
 border-left:4px solid var(--bad);border-radius:var(--r-in)}
.st{font-weight:600}
.st:not(:empty){margin-top:20px}
.note{margin-top:8px;padding:8px 14px;background:var(--note-bg);border-left:4px solid var(--note-line);
 border-radius:var(--r-in)}
ol,.tags{list-style:none}
ol:not(:empty){margin-top:12px}
.res{padding:16px 0;border-top:1px solid var(--line)}
h3{font-size:18px;font-weight:700;line-height:1.35}
h3 a{text-decoration:none}
h3 a:hover{text-decoration:underline}
.meta{margin-top:2px;font-size:15px;color:var(--muted)}
.meta b{font-weight:600;color:var(--text)}
.adr{margin-top:4px}
.cert{margin-top:6px;font-size:15px;font-weight:600;color:var(--accent)}
.tags{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
.tags li{padding:2px 10px;font-size:14px;background:var(--soft);border-radius:999px}
.call{display:inline-flex;align-items:center;min-height:44px;margin-top:10px;padding:6px 14px;
 font-weight:600;text-decoration:none;border:2px solid var(--accent);border-radius:var(--r-in)}
.call:hover{text-decoration:underline}
.more{width:100%;margin-top:4px}
.rep{margin-top:6px;font-size:14px}
.old{margin:6px 0;font-size:14px;color:var(--text);border-left:3px solid #d4a72c;padding-left:8px}
.rep a{color:var(--muted)}
.foot{margin-top:16px;font-size:13px;color:var(--muted);text-align:right}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);
 clip-path:inset(50%);white-space:nowrap}
@container (max-width:420px){.root{padding:14px}.act button{flex:1 1 100%}.f.d{flex-basis:100%}}
@media (prefers-reduced-motion:reduce){*,*::before,*::after{transition:none!important;animation:none!important}}
`;

  // --- colours: a partner's colour is nudged until its text reads well (WCAG AA 4.5:1) ---
  function rgb(hex) {
    let h = HEX.test(hex || "") ? hex.slice(1) : "";
    if (h.length < 5) h = h.replace(/./g, "$&$&");
    return h.length === 6 || h.length === 8 ? [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) : null;
  }
  const lum = (c) => c.map((v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
  function readable(hex, fallback, bg, towards) {
    const c = rgb(hex) || rgb(fallback);
    let m = c;
    for (let i = 0; i <= 20; i++) {
      m = c.map((v) => Math.round(v + (towards - v) * i / 20));
      if (ratio(m, rgb(bg)) >= 4.6) break;
    }
    return "#" + m.map((v) => v.toString(16).padStart(2, "0")).join("");
  }

  // Theme values become CSS custom properties in the sheet's text (no inline styles: CSP).
  function themeCSS(t) {
    const family = typeof t.font === "string" && t.font.length < 200 && t.font.split(",").every((f) => FAMILY.test(f))
      ? `${t.font}, ${STACK}` : STACK;
    const r = t.radius != null && t.radius !== "" && isFinite(t.radius) ?
      Math.min(24, Math.max(0, Math.round(+t.radius))) : 8;
    const common = {"--font": family, "--r": r + "px", "--r-in": Math.min(r, 10) + "px"};
    // Checked against the tinted panels (tags, hover), the darkest backgrounds text sits on.
    const light = {"color-scheme": "light", "--bg": "#ffffff", "--text": readable(t.text, "#1b1b1b", "#eef3f1", 0),
      "--accent": readable(t.accent, ACCENT, "#eef3f1", 0), "--on-accent": "#ffffff", "--muted": "#595959",
      "--line": "#d4d4d4", "--field": "#767676", "--field-bg": "#ffffff", "--soft": "#eef3f1",
      "--note-bg": "#fff6d5", "--note-line": "#c29a00", "--bad": "#b3261e", "--bad-bg": "#fdeeed"};
    const dark = {"color-scheme": "dark", "--bg": "#121212", "--text": "#eeeeee",
      "--accent": readable(t.accent, ACCENT, "#2a2d2c", 255), "--on-accent": "#121212", "--muted": "#b4b4b4",
      "--line": "#3d3d3d", "--field": "#8f8f8f", "--field-bg": "#1c1c1c", "--soft": "#2a2d2c",
      "--note-bg": "#2c2813", "--note-line": "#a68b2a", "--bad": "#ff9e95", "--bad-bg": "#2f1714"};
    const block = (vars) => ".root{" + Object.entries({...common, ...vars}).map(([k, v]) => k + ":" + v).join(";") + "}";
    if (t.scheme === "light" || t.scheme === "dark") return block(t.scheme === "dark" ? dark : light);
    return block(light) + "@media (prefers-color-scheme:dark){" + block(dark) + "}";
  }

  // Constructable sheets pass a CSP without 'unsafe-inline'; <style> is the old-browser fallback.
  let shared = null;
  function sheet(text) {
    const s = new CSSStyleSheet();
    s.replaceSync(text);
    return s;
  }
  function styler(root) {
    let modern = "adoptedStyleSheets" in root;
    try {
      if (modern) shared = shared || sheet(CSS);
    } catch (e) {
      modern = false;
    }
    const theme = document.createElement("style");
    if (!modern) root.append(Object.assign(document.createElement("style"), {textContent: CSS}), theme);
    return (t) => {
      if (modern) root.adoptedStyleSheets = [shared, sheet(themeCSS(t))];
      else theme.textContent = themeCSS(t);
    };
  }

  // Build an element; attributes only through setAttribute and children only as nodes or
  // text nodes, so listing data can never become markup.
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v != null && v !== false) node.setAttribute(k, v);
    for (const kid of kids) if (kid != null && kid !== false) node.append(kid);
    return node;
  }
  const str = (v) => typeof v === "string" ? v.trim() : typeof v === "number" ? String(v) : "";

  function safeURL(value, base) {
    try {
      const u = new URL(value, base);
      return /^https?:$/.test(u.protocol) ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  async function getJSON(url) {
    let res, body = null;
    try {
      res = await fetch(url, {credentials: "omit", mode: "cors"});
    } catch (e) {
      throw new Error(NETWORK);
    }
    try {
      body = await res.json();
    } catch (e) { /* not JSON, e.g. a proxy's error page */ }
    if (!res.ok || !body || typeof body !== "object") {
      const m = body && body.error && body.error.message;
      throw new Error(typeof m === "string" && m ? m : res.ok ? "The directory sent an unexpected answer."
        : `The directory could not answer (error ${res.status}). Please try again later.`);
    }
    return body;
  }

  // Where the widget goes: data-finder-target, else a free [data-finder-widget], else after the tag.
  function place(script, host) {
    let box = null;
    const sel = script.getAttribute("data-finder-target");
    try {
      if (sel) box = document.querySelector(sel);
    } catch (e) { /* an invalid selector: fall through */ }
    box = box || document.querySelector("[data-finder-widget]:not([data-finder-used])");
    if (box) {
      box.setAttribute("data-finder-used", "");
      box.append(host);
    } else if (document.body.contains(script)) {
      script.after(host);
    } else {
      document.body.append(host); // a tag in <head> has no visible "after"
    }
  }

  function boot(script) {
    const attr = (name) => (script.getAttribute("data-" + name) || "").trim();
    const key = attr("finder-key");
    const src = new URL(script.src);
    const base = src.origin + src.pathname.replace(/\/[^/]*$/, "");
    const api = (path, params) => `${base}/api/v1/${path}?${params}`;

    const host = document.createElement("finder-search");
    const root = host.attachShadow({mode: "open"});
    const style = styler(root);
    style({});
    const emit = (type, detail) => host.dispatchEvent(new CustomEvent(type, {bubbles: true, composed: true, detail}));

    const by = el("p", {class: "by"});
    const head = el("div", {class: "head"}, el("div", null, el("h2", {id: "t"}, "Find a dry needling provider"), by));
    const slot = el("div");
    const err = el("div", {class: "err", role: "alert", id: "e"});
    const status = el("p", {class: "st", role: "status", "aria-live": "polite"}, "Loading the provider search…");
    const notes = el("div");
    const list = el("ol");
    const more = el("button", {type: "button", class: "more", hidden: true}, "Load more results");
    const foot = el("p", {class: "foot"}, "Powered by ",
      el("a", {href: base + "/", target: "_blank", rel: "noopener", "aria-describedby": "nt"}, "finder"));
    // New-tab links are described by this one hidden text, so their names stay the names.
    const newTab = el("span", {class: "vh", id: "nt"}, "(opens in a new tab)");
    root.append(el("div", {class: "root"}, head, slot, err, status, notes, list, more, foot, newTab));
    place(script, host);

    const say = (text) => { status.textContent = text; };
    const fail = (text) => { err.textContent = text; };
    const notify = embed(attr("finder-embed"), host);

    let techniques = {}, extras = [], unit = "mi", seq = 0, last = null;
    const links = new WeakMap();
    let loc, kw, dist;

    function start(config) {
      const theme = config.theme && typeof config.theme === "object" ? config.theme : {};
      const defaults = config.defaults && typeof config.defaults === "object" ? config.defaults : {};
      techniques = config.techniques && typeof config.techniques === "object" ? config.techniques : {};
      style(theme);
      unit = defaults.unit === "km" ? "km" : "mi";
      // Filters such as insurance or technique ride along with every search.
      for (const [k, v] of Object.entries(defaults)) {
        if (OWN.includes(k)) continue;
        for (const one of Array.isArray(v) ? v : [v]) {
          if (["string", "number", "boolean"].includes(typeof one)) extras.push([k, String(one)]);
        }
      }
      const name = str(config.name);
      const logo = safeURL(theme.logo);
      if (logo) {
        const img = el("img", {class: "logo", src: logo, alt: "", referrerpolicy: "no-referrer"});
        img.addEventListener("error", () => { img.hidden = true; });
        head.prepend(img);
      }
      by.textContent = name;
      by.hidden = !name;

      loc = el("input", {id: "loc", name: "postcode", type: "text", autocomplete: "postal-code",
        enterkeyhint: "search", spellcheck: "false"});
      loc.value = attr("postcode") || str(defaults.postcode) || str(defaults.city);
      kw = el("input", {id: "kw", name: "q", type: "text", placeholder: "back pain", enterkeyhint: "search"});
      kw.value = attr("q") || str(defaults.q);
      let radius = parseFloat(attr("radius") || defaults.radius);
      // The API's limit: 250 mi (402 km).
      radius = radius > 0 && radius <= (unit === "km" ? 402 : 250) ? radius : 25;
      dist = el("select", {id: "dist", name: "radius"});
      for (const r of [...new Set([...RADII, radius])].sort((a, b) => a - b)) {
        dist.append(el("option", {value: r, selected: r === radius}, `${r} ${unit}`));
      }
      const go = el("button", {type: "submit", class: "go"}, "Search");
      const locate = el("button", {type: "button"}, "Use my location");
      // Hide the button where it cannot work: no API, plain http, or an iframe without allow="geolocation".
      const policy = document.featurePolicy;
      locate.hidden = !("geolocation" in navigator) || !window.isSecureContext ||
        !!(policy && !policy.allowsFeature("geolocation"));
      const field = (label, control, cls) => el("div", {class: "f " + (cls || "")},
        el("label", {for: control.id}, label), control);
      const form = el("form", {role: "search"}, field("Postcode or city", loc),
        field("Keywords (optional)", kw), field("Distance", dist, "d"), el("div", {class: "act"}, go, locate));
      slot.append(form);

      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const where = loc.value.trim();
        if (!where) {
          loc.setAttribute("aria-invalid", "true");
          say("");
          fail("Enter a postcode or city, or use your location.");
          loc.focus();
          return;
        }
        search({postcode: where});
      });
      loc.addEventListener("input", () => loc.removeAttribute("aria-invalid"));
      locate.addEventListener("click", () => {
        const mine = ++seq;
        fail("");
        say("Finding your location…");
        navigator.geolocation.getCurrentPosition((p) => {
          // Four decimals (about 10 m) is plenty for "near me" and keeps less of the position.
          if (mine === seq) search({lat: +p.coords.latitude.toFixed(4), lon: +p.coords.longitude.toFixed(4)});
        }, (e) => {
          if (mine !== seq) return;
          say("");
          fail(e.code === 1 ? "Location access was not allowed. Type a postcode or city instead."
            : "Your location could not be found. Type a postcode or city instead.");
          loc.focus();
        }, {timeout: 15000, maximumAge: 600000});
      });
      more.addEventListener("click", () => last && search(null, last.loaded));
      say("");
      notify();
      if (attr("postcode")) search({postcode: loc.value.trim()});
    }

    async function search(where, offset = 0) {
      const query = offset ? {...last.query, offset}
        : {...where, q: kw.value.trim(), radius: Number(dist.value), unit, offset: 0};
      const params = new URLSearchParams({key});
      for (const k of ["postcode", "lat", "lon", "q", "radius", "unit"]) {
        if (query[k] != null && query[k] !== "") params.set(k, query[k]);
      }
      params.set("limit", PAGE);
      params.set("offset", offset);
      for (const [k, v] of extras) params.append(k, v);
      const mine = ++seq;
      const was = status.textContent;
      fail("");
      say(offset ? "Loading more providers…" : "Searching…");
      list.setAttribute("aria-busy", "true");
      let body;
      try {
        body = await getJSON(api("search", params));
      } catch (e) {
        if (mine === seq) {
          say(offset ? was : ""); // a failed "load more" keeps the results and their count
          fail(e.message);
        }
        return;
      } finally {
        if (mine === seq) list.removeAttribute("aria-busy");
        notify();
      }
      if (mine !== seq) return; // a newer search has started
      const results = Array.isArray(body.results) ? body.results.filter((r) => r && typeof r === "object") : [];
      const total = Math.max(0, Number(body.total) || 0);
      const before = offset ? list.children.length : 0;
      if (!offset) {
        list.replaceChildren();
        notes.replaceChildren();
        const dym = str(body.did_you_mean);
        if (dym) notes.append(el("p", {class: "note"}, `Showing results for “${dym}”`));
      }
      for (const r of results) list.append(card(r));
      last = {query, loaded: offset + results.length, total};
      more.hidden = !(results.length && last.loaded < total);

      const label = "lat" in query ? "your location" : str(body.origin && body.origin.label) || query.postcode;
      const widened = body.widened && str(body.widened.message);
      const suggestion = body.suggestion && str(body.suggestion.message);
      const found = `${total} provider${total === 1 ? "" : "s"} found near ${label}`;
      if (widened && !total) say(widened); // nothing within the radius: these are the nearest beyond it
      else if (!results.length && !offset) say(suggestion || NONE);
      else if (!total) say("Showing the nearest providers.");
      else say(last.loaded < total ? `${found} (showing ${last.loaded})` : found + ".");
      emit("finder:search", {query, total});
      if (offset) {
        // Keyboard and screen reader users continue where the new results start.
        const first = list.children[before];
        const target = first && (first.querySelector("a") || first);
        if (target === first) first.setAttribute("tabindex", "-1");
        if (target) target.focus();
      }
      notify();
    }

    function card(r) {
      const li = el("li", {class: "res"});
      const name = str(r.name) || "Unnamed provider";
      const url = safeURL(r.url, base);
      const h = el("h3");
      if (url) {
        const a = el("a", {href: url, target: "_blank", rel: "noopener noreferrer", "aria-describedby": "nt"}, name);
        links.set(a, r);
        h.append(a);
      } else {
        h.append(name);
      }
      li.append(h);

      const meta = el("p", {class: "meta"});
      const d = Number(r.distance);
      if (r.distance != null && isFinite(d)) {
        meta.append(el("b", null, `${d < 0.1 ? "Under 0.1" : d.toFixed(1)} ${str(r.unit) || unit} away`));
      }
      const hours = str(r.hours_status);
      if (hours) meta.append(meta.firstChild ? " · " : "", hours);
      if (meta.firstChild) li.append(meta);

      const lines = r.address && Array.isArray(r.address.lines) ? r.address.lines.map(str).filter(Boolean) : [];
      if (lines.length) li.append(el("p", {class: "adr"}, ...lines.flatMap((line, i) => i ? [el("br"), line] : [line])));

      if (r.verification_status === "stale") {
        li.append(el("p", {class: "old"}, "May not be up to date: call to check before you go."));
      }
      if (Array.isArray(r.practitioners) && r.practitioners.some((p) => p && p.certified === true)) {
        li.append(el("p", {class: "cert"}, el("span", {"aria-hidden": "true"}, "✓ "),
          "Certified dry-needling practitioner"));
      }
      const tags = (Array.isArray(r.techniques) ? r.techniques : [])
        .map((id) => Object.prototype.hasOwnProperty.call(techniques, id) ? str(techniques[id]) : "").filter(Boolean);
      if (tags.length) li.append(el("ul", {class: "tags", "aria-label": "Techniques"}, ...tags.map((t) => el("li", null, t))));

      // tel: only from the digits (and a leading +), whatever else the phone text holds.
      const phone = str(r.phone);
      const digits = phone.replace(/\D/g, "");
      if (digits.length >= 3) {
        li.append(el("p", null, el("a", {class: "call", href: "tel:" + (phone.startsWith("+") ? "+" : "") + digits},
          "Call " + phone)));
      }
      // The directory's own form, in a new tab; not counted as a visit to the listing.
      if (Number.isInteger(r.id) && r.id > 0) {
        li.append(el("p", {class: "rep"}, el("a", {href: `${base}/providers/${r.id}/report`, target: "_blank",
          rel: "noopener", "aria-label": "Report incorrect information about " + name, "aria-describedby": "nt"},
          "Report incorrect information")));
      }
      return li;
    }

    // Count the visit and tell the host page; the link still opens as usual.
    function picked(e) {
      const a = e.target.closest && e.target.closest("a");
      const r = a && links.get(a);
      if (!r || (e.type === "auxclick" && e.button !== 1)) return;
      // keepalive outlives the page if the link replaces it; no cookie goes with it.
      fetch(api("widget/click", `key=${encodeURIComponent(key)}&id=${encodeURIComponent(r.id)}`),
        {method: "POST", keepalive: true, credentials: "omit", mode: "cors"})
        .catch(() => { /* counting must never block the visit */ });
      emit("finder:select", {id: r.id, name: str(r.name), url: a.href});
    }
    list.addEventListener("click", picked);
    list.addEventListener("auxclick", picked);

    if (!key) {
      say("");
      fail("This search widget has no key (data-finder-key).");
      return;
    }
    getJSON(api("widget/config", "key=" + encodeURIComponent(key))).then(start).catch((e) => {
      say("");
      fail(e.message || NETWORK);
      notify();
    });
  }

  // Iframe mode: tell each allowed parent origin how tall the widget is (never to "*").
  function embed(value, host) {
    const origins = [...new Set(value.split(/\s+/).map((o) => {
      try {
        const u = new URL(o);
        return /^https?:$/.test(u.protocol) ? u.origin : "";
      } catch (e) {
        return "";
      }
    }).filter(Boolean))];
    if (!origins.length || window.parent === window) return () => {};
    const post = () => {
      const body = document.body;
      const below = body ? parseFloat(getComputedStyle(body).marginBottom) || 0 : 0;
      const height = Math.ceil(host.getBoundingClientRect().bottom + window.scrollY + below);
      for (const o of origins) window.parent.postMessage({type: "finder:height", height}, o);
    };
    if (window.ResizeObserver) new ResizeObserver(post).observe(host);
    // embed.js asks again once it listens, in case it loaded after our first report.
    window.addEventListener("message", (e) => {
      if (e.source === window.parent && origins.includes(e.origin) && e.data && e.data.type === "finder:ping") post();
    });
    return post;
  }

  const ready = (fn) => document.readyState === "loading"
    ? document.addEventListener("DOMContentLoaded", fn, {once: true}) : fn();
  const me = document.currentScript;
  const scripts = me && me.hasAttribute("data-finder-key") ? [me] : document.querySelectorAll("script[data-finder-key]");
  for (const s of scripts) {
    // Each tag gets one widget, even when several copies of this file run.
    if (!s.src || s.hasAttribute("data-finder-loaded")) continue;
    s.setAttribute("data-finder-loaded", "");
    ready(() => boot(s));
  }
})();
