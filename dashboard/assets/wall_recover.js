// The wall recovers by itself. Its refresh timer keeps asking while the server is down, and a refused
// answer brings a fresh CSRF token; should the page still be stuck once the banner shows (the page's
// own state lost across a restart), check that the server answers again and reload the page, never
// while it is down (the banner says "reconnecting" meanwhile), and at most once a minute.
(function () {
  var CHECK_MS = 5000, MIN_GAP_MS = 60000;
  setInterval(function () {
    if (!document.getElementById("wall-root") || !window.__wallStale) { return; }
    var last = parseInt(window.sessionStorage.getItem("wallReloadAt") || "0", 10);
    if (Date.now() - last < MIN_GAP_MS) { return; }
    fetch(window.location.pathname, {redirect: "manual", cache: "no-store", credentials: "same-origin"})
      .then(function (response) {
        if (response.ok || response.type === "opaqueredirect") {
          window.sessionStorage.setItem("wallReloadAt", String(Date.now()));
          window.location.reload();
        }
      })
      .catch(function () { /* still unreachable */ });
  }, CHECK_MS);
})();
