// netbootd's page: live updates, and actions as calls of the API (with a
// confirmation). Everything shown comes from the server, rendered and
// escaped there; the page works without this script.
(() => {
  "use strict";
  const csrf = document.body.dataset.csrf || "";
  const byId = (id) => document.getElementById(id);

  function say(text, ok) {
    const box = byId("msg");
    if (!box) return;
    const p = document.createElement("p");
    p.className = "msg " + (ok ? "ok" : "error");
    p.textContent = text;
    box.replaceChildren(p);
  }

  async function refresh() {
    const live = byId("live");
    try {
      const r = await fetch("/ui/fragments" + location.search,
                            { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { if (live) live.textContent = "logged out"; return; }
      if (!r.ok) throw new Error(String(r.status));
      const f = await r.json();
      // Rendered and escaped by the server.
      byId("pcs").innerHTML = f.pcs;
      byId("images").innerHTML = f.images;
      byId("summary").textContent = f.summary;
      if (live) live.textContent = "live";
    } catch (e) {
      if (live) live.textContent = "netbootd does not answer, trying again";
    }
  }

  document.addEventListener("click", async (ev) => {
    const a = ev.target.closest("a[data-post]");
    if (!a || !csrf) return;
    ev.preventDefault();
    if (!window.confirm(a.dataset.confirm)) return;
    let text = "";
    let ok = false;
    try {
      const r = await fetch(a.dataset.post, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf },
      });
      ok = r.ok;
      const j = await r.json().catch(() => ({}));
      text = ok ? a.dataset.done : (j.error || r.status + " " + r.statusText);
    } catch (e) {
      text = "netbootd does not answer: " + e;
    }
    say(text, ok);
    refresh();
  });

  document.querySelectorAll("form.filters select").forEach((s) =>
    s.addEventListener("change", () => s.form.submit()));

  if (byId("pcs")) setInterval(refresh, 3000);
})();
