// Keyboard shortcuts of the consoles: a key clicks the button it names (never while typing).
(function () {
  const KEYS = {v: "operator-verify", x: "operator-reject", m: "operator-merge", a: "operator-ask", r: "operator-reply"};
  document.addEventListener("keydown", function (event) {
    const tag = (event.target.tagName || "").toLowerCase();
    if (event.ctrlKey || event.metaKey || event.altKey || ["input", "textarea", "select"].includes(tag)
        || event.target.isContentEditable) { return; }
    const key = event.key.toLowerCase();
    if (key === "j" || key === "k") {
      const rows = Array.from(document.querySelectorAll("#operator-queue-table tbody tr"));
      if (!rows.length) { return; }
      const current = rows.findIndex(r => r.classList.contains("selected"));
      const next = key === "j" ? Math.min(rows.length - 1, current + 1) : Math.max(0, current - 1);
      const button = rows[next].querySelector("button");
      if (button) { button.click(); }
      return;
    }
    const id = KEYS[key];
    const button = id && document.getElementById(id);
    if (button) { event.preventDefault(); button.click(); }
  });
})();
