// store.js keeps webpeft's data in the browser's Origin Private File
// System (OPFS), inside the engine's worker (worker.js imports it):
//
//   webpeft/runs/ID/run.json          a training run: its options (data
//                                     included), model, status, and the
//                                     step of its last checkpoint
//   webpeft/runs/ID/checkpoint.bin    the checkpoint (PEFT parameters,
//                                     AdamW moments, step, data position,
//                                     loss history), written atomically
//   webpeft/models/KEY/meta.json      a downloaded model: where it came
//                                     from, its files and their sizes
//   webpeft/models/KEY/FILE           the files, downloaded in place: a
//                                     partial file continues with an HTTP
//                                     Range request where it stopped
//
// Everything stays on this device; nothing here talks to a server except
// the downloads the user asks for.
"use strict";

const webpeftStore = (() => {
  const enc = new TextEncoder();
  const dec = new TextDecoder();

  async function root() {
    const top = await navigator.storage.getDirectory();
    return top.getDirectoryHandle("webpeft", { create: true });
  }

  async function dir(...names) {
    let d = await root();
    for (const n of names) d = await d.getDirectoryHandle(n, { create: true });
    return d;
  }

  async function maybeDir(...names) {
    try {
      let d = await root();
      for (const n of names) d = await d.getDirectoryHandle(n);
      return d;
    } catch (e) {
      if (e.name === "NotFoundError") return null;
      throw e;
    }
  }

  async function readFile(d, name) {
    try {
      return await (await d.getFileHandle(name)).getFile();
    } catch (e) {
      if (e.name === "NotFoundError" || e.name === "TypeMismatchError") return null;
      throw e;
    }
  }

  async function readJSON(d, name) {
    const f = await readFile(d, name);
    if (!f) return null;
    try {
      return JSON.parse(await f.text());
    } catch {
      return null;
    }
  }

  // write replaces a file atomically: createWritable writes a swap file
  // that close() commits, so a tab closed mid-write keeps the old file.
  async function write(d, name, data) {
    const w = await (await d.getFileHandle(name, { create: true })).createWritable();
    try {
      await w.write(typeof data === "string" ? enc.encode(data) : data);
      await w.close();
    } catch (e) {
      await w.abort().catch(() => {});
      throw e;
    }
  }

  const writeJSON = (d, name, obj) => write(d, name, JSON.stringify(obj));

  async function entries(d) {
    const out = [];
    if (!d) return out;
    for await (const [name, h] of d.entries()) out.push([name, h]);
    return out;
  }

  // --- training runs --------------------------------------------------------

  const runs = {
    async create(rec) {
      await writeJSON(await dir("runs", rec.id), "run.json", rec);
      return rec;
    },
    async get(id) {
      const d = await maybeDir("runs", id);
      if (!d) return { run: null, checkpoint: null };
      const run = await readJSON(d, "run.json");
      const f = await readFile(d, "checkpoint.bin");
      const checkpoint = f && f.size > 0 ? new Uint8Array(await f.arrayBuffer()) : null;
      return { run, checkpoint };
    },
    async update(id, patch) {
      const d = await dir("runs", id);
      const rec = { ...(await readJSON(d, "run.json")), ...patch };
      await writeJSON(d, "run.json", rec);
      return rec;
    },
    // saveCheckpoint writes the checkpoint, then records its step.
    async saveCheckpoint(id, bytes, step) {
      const d = await dir("runs", id);
      await write(d, "checkpoint.bin", bytes);
      const rec = await readJSON(d, "run.json");
      await writeJSON(d, "run.json", { ...rec, step, checkpointBytes: bytes.byteLength, savedAt: Date.now() });
    },
    // list: every run's record, newest first (without its data).
    async list() {
      const out = [];
      for (const [name, h] of await entries(await maybeDir("runs"))) {
        if (h.kind !== "directory") continue;
        const rec = await readJSON(h, "run.json");
        if (!rec) continue;
        const { options, ...rest } = rec;
        out.push({ ...rest, id: name, options: options ? { ...options, data: undefined, dataLength: (options.data || "").length } : null });
      }
      return out.sort((a, b) => (b.created || 0) - (a.created || 0));
    },
    async remove(id) {
      const d = await maybeDir("runs");
      if (d) await d.removeEntry(id, { recursive: true }).catch((e) => { if (e.name !== "NotFoundError") throw e; });
    },
  };

  // --- model cache ------------------------------------------------------------

  async function sha(text) {
    const h = new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(text)));
    return [...h.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  const safeName = (s) => s.replace(/[^\w.@-]+/g, "_").slice(0, 120);

  // contentRange parses "bytes a-b/size" (or "bytes */size").
  function contentRange(h) {
    const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)\s*$/.exec(h || "");
    if (!m) return null;
    return { start: m[1] === undefined ? null : Number(m[1]), end: m[2] === undefined ? null : Number(m[2]), size: m[3] === "*" ? -1 : Number(m[3]) };
  }

  class HTTPError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  // download fetches url into the file `name` of the model directory d,
  // continuing a partial file with a Range request, and checks the size
  // against Content-Range / Content-Length. meta.files[name] records
  // {url, size, done, complete}. Returns the OPFS File.
  async function download(d, meta, name, url, headers, onProgress) {
    const rec = (meta.files[name] ||= { url, size: -1, complete: false });
    const fh = await d.getFileHandle(safeName(name), { create: true });
    let have = (await fh.getFile()).size;
    if (rec.complete && have === rec.size && rec.url === url) return fh.getFile();
    if (rec.url !== url) {
      rec.url = url;
      rec.size = -1;
      have = 0;
    }
    const send = { ...headers };
    if (have > 0) send.Range = `bytes=${have}-`;
    let resp;
    try {
      resp = await fetch(url, { headers: send, cache: "no-store" });
    } catch (e) {
      throw new HTTPError(`fetching ${url}: ${e.message} (is the address right, is the network up, and does the server allow cross-origin requests?)` +
        (have > 0 ? ` ${have} bytes are stored: load it again to continue.` : ""), 0);
    }
    let total = -1;
    let start = 0;
    if (resp.status === 206) {
      const cr = contentRange(resp.headers.get("Content-Range"));
      if (!cr || cr.start !== have) throw new HTTPError(`${url}: the server answered bytes ${resp.headers.get("Content-Range")} to a request for bytes ${have}-`, 206);
      if (rec.size >= 0 && cr.size >= 0 && cr.size !== rec.size) {
        // The file changed on the server: start again.
        resp.body?.cancel();
        rec.size = -1;
        await (await fh.createWritable()).close();
        return download(d, meta, name, url, headers, onProgress);
      }
      total = cr.size;
      start = have;
    } else if (resp.status === 416 && have > 0) {
      const cr = contentRange(resp.headers.get("Content-Range"));
      if (cr && cr.size === have) {
        Object.assign(rec, { size: have, done: have, complete: true });
        return fh.getFile();
      }
      resp.body?.cancel();
      await (await fh.createWritable()).close();
      rec.size = -1;
      return download(d, meta, name, url, headers, onProgress);
    } else if (resp.status === 200) {
      // A whole file (the server ignored the range, or none was asked):
      // Content-Length is its size unless it comes compressed.
      const len = resp.headers.get("Content-Length");
      if (len !== null && !resp.headers.get("Content-Encoding")) total = Number(len);
    } else {
      resp.body?.cancel();
      const why = resp.status === 401 || resp.status === 403 ? "access denied; a gated or private model needs an access token"
        : resp.status === 404 ? "not found" : "";
      throw new HTTPError(`${url}: HTTP ${resp.status}${why ? ` (${why})` : ""}`, resp.status);
    }
    rec.size = total;
    const access = await fh.createSyncAccessHandle();
    let pos = start;
    let lastFlush = pos;
    try {
      if (start === 0) access.truncate(0);
      const reader = resp.body.getReader();
      onProgress?.(pos, total);
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw new HTTPError(`${url}: the download was interrupted after ${pos} of ${total >= 0 ? total : "?"} bytes (${e.message}); ` +
            "what arrived is stored: load the model again to continue", -1);
        }
        if (chunk.done) break;
        let off = 0;
        while (off < chunk.value.length) off += access.write(chunk.value.subarray(off), { at: pos + off });
        pos += chunk.value.length;
        if (total >= 0 && pos > total) throw new HTTPError(`${url}: the server sent more than the ${total} bytes it announced`, -1);
        if (pos - lastFlush >= 8 << 20) {
          access.flush();
          lastFlush = pos;
          rec.done = pos;
          await writeJSON(d, "meta.json", meta);
        }
        onProgress?.(pos, total);
      }
    } finally {
      access.flush();
      access.close();
      rec.done = pos;
      await writeJSON(d, "meta.json", meta).catch(() => {});
    }
    if (total >= 0 && pos !== total) {
      throw new HTTPError(`${url}: got ${pos} of ${total} bytes; load the model again to continue`, -1);
    }
    Object.assign(rec, { size: pos, done: pos, complete: true });
    await writeJSON(d, "meta.json", meta);
    return fh.getFile();
  }

  async function open(key, init) {
    const d = await dir("models", key);
    const meta = { files: {}, ...(await readJSON(d, "meta.json")), ...init, key, lastUsed: Date.now() };
    meta.created ||= Date.now();
    await writeJSON(d, "meta.json", meta);
    return { d, meta };
  }

  // dropIfEmpty removes a model entry whose downloads brought nothing.
  async function dropIfEmpty(key, d) {
    for (const [n, f] of await entries(d)) if (f.kind === "file" && n !== "meta.json" && (await f.getFile()).size > 0) return;
    await (await dir("models")).removeEntry(key, { recursive: true }).catch(() => {});
  }

  const models = {
    // url: one file (a GGUF), cached under a key made from its URL.
    async url(url, { headers, name, onProgress } = {}) {
      const base = url.split(/[?#]/)[0].split("/").pop() || "model";
      const key = `url-${await sha(url)}-${safeName(base)}`;
      const { d, meta } = await open(key, { kind: "url", source: url, name: name || base });
      try {
        return await download(d, meta, "model", url, headers, (done, total) => onProgress?.({ file: base, done, total }));
      } catch (e) {
        await dropIfEmpty(key, d);
        throw e;
      }
    },

    // hf: a Hugging Face repository's config.json, tokenizer files and
    // safetensors (one file or the shards its index names), by the Hub's
    // resolve URLs. Returns [{name, data: File}].
    async hf(repo, { revision = "main", hubBase = "https://huggingface.co", headers, onProgress } = {}) {
      const key = `hf-${safeName(repo.replace("/", "--"))}@${safeName(revision)}-${await sha(hubBase)}`;
      const { d, meta } = await open(key, { kind: "hf", source: `${repo}${revision !== "main" ? "@" + revision : ""}`, name: repo, hubBase });
      const url = (f) => `${hubBase.replace(/\/$/, "")}/${repo}/resolve/${encodeURIComponent(revision)}/${f.split("/").map(encodeURIComponent).join("/")}`;
      if (meta.complete && Array.isArray(meta.order)) {
        // Stored whole: no network.
        const out = [];
        for (const f of meta.order) {
          const file = await readFile(d, safeName(f));
          if (!file || !meta.files[f]?.complete || file.size !== meta.files[f].size) {
            out.length = 0;
            break;
          }
          out.push({ name: f, data: file });
        }
        if (out.length) return out;
        meta.complete = false;
      }
      const out = [];
      const get = async (f, optional) => {
        try {
          const file = await download(d, meta, f, url(f), headers, (done, total) => onProgress?.({ file: f, done, total }));
          out.push({ name: f, data: file });
          return file;
        } catch (e) {
          if (optional && e.status === 404) {
            delete meta.files[f];
            await d.removeEntry(safeName(f)).catch(() => {});
            return null;
          }
          throw e;
        }
      };
      try {
        await get("config.json");
        await get("tokenizer.json");
        await get("tokenizer_config.json", true);
        await get("generation_config.json", true);
        const index = await get("model.safetensors.index.json", true);
        if (index) {
          const map = JSON.parse(await index.text()).weight_map || {};
          for (const shard of [...new Set(Object.values(map))].sort()) await get(shard);
        } else {
          await get("model.safetensors");
        }
      } catch (e) {
        await dropIfEmpty(key, d);
        throw e;
      }
      meta.complete = true;
      meta.order = out.map((f) => f.name);
      await writeJSON(d, "meta.json", meta);
      return out;
    },

    // list: every cached model with its files' sizes.
    async list() {
      const out = [];
      for (const [key, h] of await entries(await maybeDir("models"))) {
        if (h.kind !== "directory") continue;
        const meta = (await readJSON(h, "meta.json")) || { files: {} };
        let bytes = 0;
        for (const [n, f] of await entries(h)) if (f.kind === "file" && n !== "meta.json") bytes += (await f.getFile()).size;
        const files = Object.entries(meta.files || {}).map(([name, r]) => ({ name, size: r.size, complete: !!r.complete }));
        out.push({ key, kind: meta.kind, source: meta.source, name: meta.name, bytes, files,
          complete: files.length > 0 && files.every((f) => f.complete), lastUsed: meta.lastUsed, created: meta.created });
      }
      return out.sort((a, b) => (b.lastUsed || 0) - (a.lastUsed || 0));
    },

    async remove(key) {
      const d = await maybeDir("models");
      if (d) await d.removeEntry(key, { recursive: true }).catch((e) => { if (e.name !== "NotFoundError") throw e; });
    },
  };

  return { runs, models, HTTPError, text: (b) => dec.decode(b) };
})();

self.webpeftStore = webpeftStore;
