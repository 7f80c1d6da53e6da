// The colour theme: the system's (prefers-color-scheme) until the toggle picks light or dark, which is then
// remembered in localStorage. Loaded as a classic script in <head>, so the page is drawn in its theme from the
// start; the colours themselves are the custom properties at the top of styles.css (<html data-theme>).
(function theme() {
  const KEY = "folio-theme";
  const root = document.documentElement;
  const system = window.matchMedia("(prefers-color-scheme: dark)");

  function stored() {
    try {
      const value = localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : null;
    } catch {
      return null; // storage refused (a private window's policy): follow the system
    }
  }

  function current() {
    return stored() || (system.matches ? "dark" : "light");
  }

  function apply() {
    const chosen = stored();
    if (chosen) root.dataset.theme = chosen;
    else delete root.dataset.theme;
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const dark = current() === "dark";
    button.setAttribute("aria-pressed", String(dark));
    button.title = chosen ? `${dark ? "Dark" : "Light"} theme, chosen here (remembered in this browser)`
      : `${dark ? "Dark" : "Light"} theme, as the system prefers`;
  }

  apply();
  system.addEventListener("change", apply);
  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    button.addEventListener("click", () => {
      try {
        localStorage.setItem(KEY, current() === "dark" ? "light" : "dark");
      } catch {
        root.dataset.theme = current() === "dark" ? "light" : "dark"; // this page only
        return;
      }
      apply();
    });
    apply();
  });
})();
