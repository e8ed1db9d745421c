// Installs the officer's service worker (/sw.js, scope "/": see static/js/service-worker.js)
// for signed-in users, asks it to keep the case-intake page now open, and makes it forget the
// kept pages when the officer signs out (a shared phone must not keep the last user's pages).
(() => {
  const script = document.currentScript;
  const url = script && script.dataset.sw;
  if (!url || !("serviceWorker" in navigator)) return;
  const message = (data) => {
    navigator.serviceWorker.ready.then((registration) => {
      if (registration.active) registration.active.postMessage(data);
    });
  };
  navigator.serviceWorker.register(url, { scope: "/" }).catch(() => undefined);
  document.addEventListener("DOMContentLoaded", () => {
    // A page the worker controls was kept on its way in (service-worker.js); only one loaded before
    // the worker took over needs asking for.
    const controlled = Boolean(navigator.serviceWorker.controller);
    if (!controlled && document.getElementById("case-intake")) {
      message({ type: "keep-page", path: window.location.pathname });
    }
    document.querySelectorAll("form[action$='/logout/']").forEach((form) => {
      form.addEventListener("submit", () => message({ type: "forget-pages" }));
    });
  });
})();
