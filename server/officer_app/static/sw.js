// Service worker: keeps the app shell for offline starts and shows push notifications.
// It never caches anything under /api/ or /ws/: alert photos and data stay out of any cache.

const CACHE = "vigil-officer-shell-v1";
const SHELL = [
  "./", "app.css", "app.js", "card.js", "link.js", "store.js", "geo.js",
  "manifest.webmanifest", "icons/icon-192.png", "icons/icon-512.png",
  "icons/icon-maskable-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin ||
      !url.pathname.startsWith("/officer/")) {
    return; // the network, untouched (REST, websocket, photos)
  }
  // Network first so an updated app is picked up; the cached shell when offline.
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((c) => c.put(event.request, copy));
        }
        return response;
      })
      .catch(() => caches.match(event.request, { ignoreSearch: true })
        .then((hit) => hit || caches.match("./"))),
  );
});

self.addEventListener("push", (event) => {
  // The payload says only that an alert is waiting (no photo, no name).
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    if (windows.some((w) => w.visibilityState === "visible")) return; // the app shows it
    await self.registration.showNotification("Vigil: an alert is waiting", {
      body: "Open Vigil to see it.",
      tag: "vigil-alert",
      renotify: true,
      requireInteraction: true,
      icon: "icons/icon-192.png",
    });
  })());
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const w of windows) {
      if (new URL(w.url).pathname.startsWith("/officer/")) return w.focus();
    }
    return self.clients.openWindow("/officer/");
  })());
});
