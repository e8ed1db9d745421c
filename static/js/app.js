// Small behaviours without inline scripts (the CSP of issue #3 forbids them).

// htmx would insert a <style> element for .htmx-indicator, which the CSP (style-src 'self')
// refuses; static/css/app.css carries those rules instead. This file runs after htmx.min.js and
// before DOMContentLoaded, when htmx reads its config.
if (window.htmx) window.htmx.config.includeIndicatorStyles = false;

// Progress bars carry their width in data-progress, not in an inline style attribute (which the
// CSP refuses); setting it through the DOM is allowed. Runs for the first page and for every
// fragment htmx swaps in (the import status polls itself every second).
const applyProgress = (root) => {
  root.querySelectorAll("[data-progress]").forEach((el) => {
    el.style.width = `${Number(el.dataset.progress) || 0}%`;
  });
};
document.addEventListener("htmx:load", (event) => applyProgress(event.target));

document.addEventListener("DOMContentLoaded", () => {
  applyProgress(document);
  // Language switcher: submit the form when the select changes.
  document.querySelectorAll("[data-autosubmit]").forEach((el) => {
    el.addEventListener("change", () => el.form.requestSubmit());
  });
  // Print buttons.
  document.querySelectorAll("[data-print]").forEach((el) => {
    el.addEventListener("click", () => window.print());
  });
  // Confirm before destructive actions.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});
// htmx sends the CSRF token with its requests.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector("meta[name=csrf-token]");
  if (token) event.detail.headers["X-CSRFToken"] = token.content;
});
