// sw.js is the app's service worker: it keeps the app shell (pages,
// scripts, the engine's wasm, the default model) in the Cache API so that
// the app works offline after a first visit. Requests go to the network
// first (so an updated site is seen at once) and fall back to the cache;
// Range requests (the engine streams models with them) are answered from a
// cached whole file, sliced.
const CACHE = "webpeft-shell-v3";
const SHELL = [
  "./", "app.js", "app.css", "webpeft.js", "worker.js", "wasm_exec.js", "main.wasm",
  "vendor/uplot/uPlot.esm.js", "vendor/uplot/uPlot.min.css", "models/webpeft-default-q8_0.gguf",
  "manifest.webmanifest", "icon.svg", "api.html", "store.js",
];
// Only the shell and the site's own files are kept here: models the user
// downloads go to the model cache in OPFS (store.js), never twice.
const KEEP = new Set(SHELL.map((p) => new URL(p, self.registration.scope).href));
KEEP.add(new URL("index.html", self.registration.scope).href);
const keep = (url) => {
  const u = url.split(/[?#]/)[0];
  return KEEP.has(u) || /\/(data|vendor)\//.test(u.slice(self.registration.scope.length - 1));
};

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET" || new URL(req.url).origin !== location.origin) return;
  event.respondWith(networkFirst(req));
});

async function networkFirst(req) {
  try {
    const resp = await fetch(req);
    if (resp.status === 200 && !req.headers.has("range") && keep(req.url)) {
      const copy = resp.clone();
      caches.open(CACHE).then((c) => c.put(req, copy)).catch(() => {});
    }
    return resp;
  } catch (err) {
    // The server answers /index.html with a redirect to ./, which is cached.
    const url = new URL(req.url);
    if (url.pathname.endsWith("/index.html")) url.pathname = url.pathname.slice(0, -"index.html".length);
    let cached = await caches.match(url.href, { ignoreSearch: true, ignoreVary: true });
    if (!cached) throw err;
    if (cached.redirected) {
      // A navigation may not be answered with a redirected response.
      cached = new Response(await cached.blob(), { status: cached.status, statusText: cached.statusText, headers: cached.headers });
    }
    const range = req.headers.get("range");
    return range ? slice(cached, range) : cached;
  }
}

// slice answers "Range: bytes=a-b" from a whole cached response.
async function slice(resp, range) {
  const blob = await resp.blob();
  const m = /^bytes=(\d+)-(\d*)$/.exec(range.trim());
  if (!m) return new Response("bad range", { status: 416 });
  const start = Number(m[1]);
  const end = Math.min(m[2] === "" ? blob.size - 1 : Number(m[2]), blob.size - 1);
  if (start > end) return new Response("", { status: 416, headers: { "Content-Range": `bytes */${blob.size}` } });
  const headers = new Headers(resp.headers);
  headers.set("Content-Range", `bytes ${start}-${end}/${blob.size}`);
  headers.set("Content-Length", String(end - start + 1));
  headers.delete("Content-Encoding");
  return new Response(blob.slice(start, end + 1), { status: 206, headers });
}
