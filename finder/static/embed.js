// Resizes finder iframes (/embed?key=KEY) to fit their content.
(() => {
  "use strict";
  const me = document.currentScript || document.querySelector('script[src$="/embed.js"]');
  if (!me) return;
  const origin = new URL(me.src).origin;
  const frames = () => document.querySelectorAll("iframe");
  addEventListener("message", (e) => {
    const d = e.data;
    // Only finder's own pages may resize, and only with a well-formed message.
    if (e.origin !== origin || !d || d.type !== "finder:height" || !Number.isFinite(d.height)) return;
    for (const f of frames()) {
      if (f.contentWindow === e.source) f.height = String(Math.round(Math.min(5000, Math.max(100, d.height))));
    }
  });
  // Frames that reported before we listened: ask again (only finder pages get it).
  const ping = () => frames().forEach((f) => f.contentWindow?.postMessage({type: "finder:ping"}, origin));
  document.readyState === "loading" ? addEventListener("DOMContentLoaded", ping) : ping();
})();
