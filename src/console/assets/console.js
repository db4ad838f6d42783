// Live updates for the console. Everything works without this script; with
// it, the parts of a page marked data-refresh are replaced when the server
// reports a change to a resource the page shows (body[data-live]).
"use strict";
(function () {
  const body = document.body;
  if (!body.dataset.live || !window.EventSource) return;
  const status = document.getElementById("live-status");
  let timer = null;

  function watched(resource) {
    return (body.dataset.live || "").split(" ").some(function (token) {
      return token && (token.endsWith("/") ? resource.startsWith(token) : resource === token);
    });
  }

  function idle(region) {
    if (region.contains(document.activeElement) && document.activeElement !== region) return false;
    return !Array.from(region.querySelectorAll("input, textarea, select")).some(function (field) {
      if (field.type === "hidden") return false;
      if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
      if (field.tagName === "SELECT") return field.selectedIndex > 0;
      return field.value !== field.defaultValue;
    });
  }

  async function refresh() {
    timer = null;
    const response = await fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    document.querySelectorAll("[data-refresh]").forEach(function (region) {
      const replacement = fresh.getElementById(region.id);
      if (!replacement || replacement.innerHTML === region.innerHTML) return;
      if (region.dataset.refresh === "if-idle" && !idle(region)) return;
      region.innerHTML = replacement.innerHTML;
      region.classList.remove("updated");
      void region.offsetWidth;
      region.classList.add("updated");
    });
    if (fresh.body.dataset.live) body.dataset.live = fresh.body.dataset.live;
    status.textContent = "Updated " + new Date().toLocaleTimeString();
  }

  const source = new EventSource("/live");
  source.addEventListener("change", function (event) {
    if (!watched(event.data)) return;
    if (timer === null) timer = setTimeout(refresh, 250);
  });
  source.addEventListener("open", function () { body.dataset.liveConnected = "true"; });
  // Browsers allow six connections per site over HTTP/1.1: a page left
  // (or kept in the back-forward cache) must not keep its stream open.
  window.addEventListener("pagehide", function () { source.close(); });
})();
