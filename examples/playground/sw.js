// Keeps the playground working offline once loaded: network first (so a rebuilt package is
// picked up at once), the cached copy when the network is not there.
const CACHE = 'callhook-playground-v1';
const FILES = ['./', './index.html', './playground.js', './playground.css', './vendor/index.js',
  './vendor/stores.js', './vendor/delivery.js', './vendor/fetch-handler.js',
  './vendor/dist/callhook_wasm.mjs', './vendor/dist/callhook_wasm.wasm'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});
self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
    .then(() => self.clients.claim()));
});
self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(fetch(request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      event.waitUntil(caches.open(CACHE).then((cache) => cache.put(request, copy)));
    }
    return response;
  }).catch(() => caches.match(request, { ignoreSearch: true }).then((hit) => hit ?? Response.error())));
});
