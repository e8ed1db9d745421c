// The officer's service worker, served at /sw.js by mediators/offline.py, which puts PRECACHE
// (static URLs) and VERSION (a hash of their contents) in front of this file.
//
// It keeps two things for use without signal:
// - the shell: the static files the intake page needs (cache "shell-<VERSION>", replaced when
//   any of them changes);
// - each case-intake page (/c/<code>/mediation/new/) the officer opened, fetched from the
//   network whenever there is signal and answered from the cache when there is none.
// It never touches POSTs: the page's own script (offline-intake.js) keeps unsent cases in
// IndexedDB and sends them itself, so a case is never replayed by the worker behind its back.
/* global PRECACHE, VERSION */
const SHELL = `shell-${VERSION}`;
const PAGES = "intake-pages";
const INTAKE = /^\/c\/[\w-]+\/mediation\/new\/$/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL)
      .then((cache) => cache.addAll(PRECACHE))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("shell-") && k !== SHELL).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// A fresh copy of an intake page into the cache: only a page the server answered itself (200,
// not the login page a lapsed session is redirected to).
async function keepPage(path, response) {
  if (!response.ok || response.redirected || response.type !== "basic") return;
  const cache = await caches.open(PAGES);
  await cache.put(path, response);
}

async function intakePage(request, path) {
  try {
    const response = await fetch(request);
    await keepPage(path, response.clone());
    return response;
  } catch (error) {
    const cached = await caches.match(path, { cacheName: PAGES, ignoreVary: true });
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && INTAKE.test(url.pathname)) {
    event.respondWith(intakePage(request, url.pathname));
  } else if (PRECACHE.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname, { cacheName: SHELL }).then((hit) => hit || fetch(request)));
  }
});

// From sw-register.js: keep the intake page the officer has open (it was loaded before this
// worker controlled the page), or forget every kept page when the officer signs out.
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "keep-page" && INTAKE.test(data.path || "")) {
    event.waitUntil(
      fetch(data.path, { credentials: "same-origin" })
        .then((response) => keepPage(data.path, response))
        .catch(() => undefined),
    );
  } else if (data.type === "forget-pages") {
    event.waitUntil(caches.delete(PAGES));
  }
});
