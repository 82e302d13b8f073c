// webpeft.js — fine-tune language models in the browser, from JavaScript.
//
//   import { WebPeft } from "./webpeft.js";
//   const wp = await WebPeft.create();
//   await wp.loadModel("default", { onProgress: (p) => console.log(p.phase, p.done, p.total) });
//   const sum = await wp.train({ data: "some text…", method: "lora", steps: 100 },
//                              { onStep: (s) => console.log(s.step, s.loss) });
//   const text = await wp.generate("Once upon a time", { maxTokens: 40, adapter: true,
//                                  onToken: (t) => console.log(t) });
//   const files = await wp.exportAdapter("peft");   // File objects (Blobs with names)
//
// The engine (Go compiled to WebAssembly, running WGSL kernels on WebGPU)
// lives in a dedicated Web Worker (worker.js); this module only talks to
// it, so the page's main thread never blocks. One worker holds one GPU
// device, one model and one adapter; calls that use the GPU run one at a
// time (a second one is refused while the first runs), except pause,
// resume and stop, which act at once.

const here = new URL(".", import.meta.url);

/** The model "default" loads: webpeft-default, a 3.4M-parameter llama
 * pre-trained by this project on State of the Union addresses
 * (models/MODEL_CARD.md). */
export const DEFAULT_MODEL = new URL("models/webpeft-default-q8_0.gguf", here).href;

/** Adapter export formats. */
export const FORMATS = ["native", "peft", "gguf"];

export class WebPeftError extends Error {}

/** The Hugging Face Hub; WebPeft.create({hubBase}) or loadModel's
 * hubBase option point elsewhere (a mirror, or a test server). */
export const HUB = "https://huggingface.co";

/**
 * resolveModel turns a Hugging Face reference, "hf:OWNER/REPO/FILE.gguf"
 * (optionally "@REVISION" after the repo), into its download URL; any
 * other string is returned as it is.
 */
export function resolveModel(source, hubBase = HUB) {
  const m = /^hf:([\w.-]+\/[\w.-]+)(?:@([\w.\/-]+?))?\/(.+\.gguf)$/.exec(source);
  if (!m) return source;
  const [, repo, rev = "main", file] = m;
  return `${hubBase.replace(/\/$/, "")}/${repo}/resolve/${encodeURIComponent(rev)}/${file.split("/").map(encodeURIComponent).join("/")}`;
}

/**
 * hfRepo reads a Hugging Face model id: "OWNER/NAME" or "hf:OWNER/NAME",
 * optionally "@REVISION" after it. Returns {repo, revision} or null.
 */
export function hfRepo(source) {
  const m = /^(?:hf:)?([\w][\w.-]*\/[\w.-]+)(?:@([\w.\/-]+))?$/.exec(String(source).trim());
  if (!m || m[1].endsWith(".gguf")) return null;
  return { repo: m[1], revision: m[2] || "main" };
}

// folderFiles turns the files of a picked folder (input webkitdirectory:
// names under webkitRelativePath "FOLDER/…") into [{name, data}] with
// names relative to the folder.
function folderFiles(list) {
  return [...list].map((f) => {
    if (!(f instanceof Blob) && f.data) return { name: f.name, data: f.data };
    const rel = f.webkitRelativePath || f.name;
    return { name: rel.includes("/") ? rel.slice(rel.indexOf("/") + 1) : rel, data: f };
  });
}

const newRunId = () => `run-${new Date().toISOString().replace(/[-:.TZ]/g, "").slice(0, 14)}-${Math.random().toString(36).slice(2, 8)}`;

export class WebPeft {
  /** create starts the engine's worker and resolves when it is ready. */
  static async create({ workerURL = new URL("worker.js", here), hubBase = HUB } = {}) {
    const wp = new WebPeft(new Worker(workerURL));
    wp.hubBase = hubBase;
    await wp.ready;
    return wp;
  }

  constructor(worker) {
    this.worker = worker;
    this.nextId = 1;
    this.calls = new Map();
    this.fatal = "";
    this.hubBase = HUB;
    this.model = null; // how to load the current model again (for run records)
    this.ready = new Promise((resolve, reject) => {
      this._ready = { resolve, reject };
    });
    worker.onmessage = ({ data: msg }) => this._onMessage(msg);
    worker.onerror = (e) => this._die(`The engine failed to start: ${e.message || "unknown error"}`);
  }

  _onMessage(msg) {
    if (msg.id === undefined) {
      if (msg.type === "ready") this._ready.resolve();
      if (msg.type === "fatal") this._die(msg.message);
      return;
    }
    const c = this.calls.get(msg.id);
    if (!c) return;
    if (msg.event) {
      try {
        c.onEvent?.(msg.event);
      } catch (err) {
        console.error("webpeft: an event handler threw:", err);
      }
      return;
    }
    this.calls.delete(msg.id);
    if (msg.error !== undefined) c.reject(new WebPeftError(msg.error));
    else c.resolve(msg.result);
  }

  _die(message) {
    this.fatal = message;
    this._ready.reject(new WebPeftError(message));
    for (const c of this.calls.values()) c.reject(new WebPeftError(message));
    this.calls.clear();
  }

  _call(call, args = {}, onEvent, transfer = []) {
    if (this.fatal) return Promise.reject(new WebPeftError(this.fatal));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject, onEvent });
      this.worker.postMessage({ id, call, args }, transfer);
    });
  }

  /**
   * loadModel loads a model. source is:
   *  - "default": the app's default model (kept by the service worker);
   *  - a URL of a GGUF file: downloaded into the model cache (the browser's
   *    Origin Private File System) and read from there; an interrupted
   *    download continues where it stopped (HTTP Range), the size is
   *    checked against Content-Length / Content-Range, and a cached model
   *    loads without the network. {cache: false} streams it with Range
   *    requests instead, storing nothing;
   *  - "hf:OWNER/REPO/FILE.gguf": a GGUF file of a Hugging Face repository;
   *  - "OWNER/NAME" or "hf:OWNER/NAME" (optionally "@REVISION"): a Hugging
   *    Face model repository: config.json, tokenizer.json,
   *    tokenizer_config.json and model.safetensors (or the shards of
   *    model.safetensors.index.json), cached likewise;
   *  - a File/Blob (a GGUF file, read slice by slice);
   *  - a list of Files (a Hugging Face model folder the user picked with
   *    <input type=file webkitdirectory>) or of {name, data: Blob}.
   * onProgress receives {phase: "connecting" | "downloading" | "reading" |
   * "uploading", done, total, file} (bytes). options.headers go with URL
   * requests; options.token is a Hugging Face access token (sent as
   * Authorization: Bearer, to the Hub only for Hub sources); hubBase
   * replaces https://huggingface.co. Resolves to info().
   */
  async loadModel(source, { onProgress, name, headers, token, cache = true, hubBase = this.hubBase } = {}) {
    let hf = null;
    let record = null; // how a run record names this model
    if (source === "default" || source === undefined) {
      record = { source: "default" };
      source = DEFAULT_MODEL;
      cache = false;
    }
    if (source instanceof URL) source = source.href;
    if (typeof source === "string") {
      record ||= { source, name };
      const repo = /^[a-z][\w+.-]*:\/\//i.test(source) ? null : hfRepo(source);
      if (repo) {
        hf = { ...repo, hubBase };
        name ||= repo.repo;
      } else {
        name ||= source.startsWith("hf:") ? source.slice(3) : undefined;
        source = new URL(resolveModel(source, hubBase), location.href).href;
      }
    } else if (source instanceof Blob) {
      record = { file: source.name || "a file", name };
    } else if (source && typeof source.length === "number") {
      source = folderFiles(source);
      if (!source.length) throw new WebPeftError("the model folder is empty");
      const first = source[0];
      name ||= (first.data && first.data.webkitRelativePath || "").split("/")[0] || "model folder";
      record = { folder: name, name };
    } else {
      throw new WebPeftError("loadModel wants \"default\", a URL, a Hugging Face id, a File/Blob or a model folder's files");
    }
    if (token) headers = { ...headers, Authorization: `Bearer ${token}` };
    const onEvent = (ev) => {
      if (ev.type === "progress") onProgress?.(ev);
    };
    const info = await this._call("loadModel", { source: hf ? null : source, hf, options: { name, headers, cache } }, onEvent);
    this.model = record;
    return info;
  }

  /** cachedModels lists the models in the cache: [{key, kind ("url" or
   * "hf"), source, name, bytes (stored), files: [{name, size, complete}],
   * complete, lastUsed}]. */
  cachedModels() {
    return this._call("cachedModels");
  }

  /** deleteCachedModel removes a cached model (by its key). */
  deleteCachedModel(key) {
    return this._call("deleteCachedModel", { key });
  }

  /** storage: {usage, quota, persisted} of this origin's storage. */
  async storage() {
    const s = navigator.storage;
    const est = s?.estimate ? await s.estimate() : {};
    return { usage: est.usage ?? null, quota: est.quota ?? null, persisted: s?.persisted ? await s.persisted() : false };
  }

  /** persistStorage asks the browser to keep this origin's storage (the
   * model cache, checkpoints) under storage pressure; resolves to whether
   * it will. */
  async persistStorage() {
    return navigator.storage?.persist ? navigator.storage.persist() : false;
  }

  /**
   * dataStats tokenizes data as train would: {examples, trainExamples,
   * valExamples, tokens, targetTokens, trainTokens, valTokens, seq,
   * stepsPerEpoch, warnings, estimate}. It takes train's options; estimate
   * is what training with them would cost: {gpuBytes (weights + training
   * program), weightBytes, programBytes, activationBytes, recompute,
   * flopsPerStep, steps, parameters, estimatedSeconds (null until the
   * device is calibrated at the first model load), budgetBytes,
   * overBudget}, or estimateError says why there is none.
   */
  dataStats(options = {}) {
    return this._call("dataStats", options);
  }

  /**
   * train trains a new adapter (or, with continue: true, the current one)
   * on data: plain text, or JSON lines ({"text"}, {"prompt",
   * "completion"}, {"messages"}) — set dataName to a .jsonl name or start
   * the data with "{". Options (all optional but data): method ("lora",
   * "prompt", "prefix", "ia3", "adapter", or several comma-separated),
   * steps (default one epoch), epochs, seq (128), batch (1), accum (1),
   * lr (per method), schedule ("cosine", "linear", "constant"), warmup,
   * weightDecay, maxGradNorm (1), valSplit (0.1), valData (a validation
   * text read like data, named valDataName; then all of data trains and
   * valSplit is ignored), evalEvery (steps/10),
   * seed, rank (8), alpha (16), targets (["q","v"]), dropout,
   * virtualTokens (20), promptInit, promptInitText, bottleneck (16),
   * adapterType, adapterAct, checkpointEvery (steps/10). With
   * checkpoint: true (or {id, every}) the run is kept in the browser's
   * Origin Private File System (options, data, model, and a checkpoint
   * every checkpointEvery steps and at a pause), so that resumeRun
   * continues it after a reload or a closed tab. onStep receives {step, steps, loss, valLoss
   * (null when not measured), lr, tokensPerSecond, elapsed, eta} (seconds)
   * after every step; onEvent sees every event ("start", "step", "paused",
   * "resumed", "warning", "checkpoint"). Resolves to {steps, loss,
   * valLoss, tokensPerSecond, stopped, run}; stop() ends it early, keeping
   * what was trained.
   */
  train(options, { onStep, onEvent, checkpoint } = {}) {
    if (!options || typeof options.data !== "string") throw new WebPeftError("train wants {data: text, …}");
    const args = { ...options };
    if (checkpoint) {
      const c = checkpoint === true ? {} : checkpoint;
      if (c.every) args.checkpointEvery = c.every;
      args.checkpoint = { id: c.id || newRunId(), model: this.model };
    }
    return this._call("train", args, (ev) => {
      if (ev.type === "step") onStep?.(ev);
      onEvent?.(ev);
    });
  }

  /**
   * resumeRun continues a checkpointed run (see runs()) from its last
   * checkpoint: the same model must be loaded. onEvent's "start" event
   * carries resumedFrom (the checkpoint's step) and history (the steps
   * before it: {step, loss, valLoss}). Resolves as train does.
   */
  resumeRun(id, { onStep, onEvent } = {}) {
    return this._call("resumeRun", { id }, (ev) => {
      if (ev.type === "step") onStep?.(ev);
      onEvent?.(ev);
    });
  }

  /** runs lists the training runs stored in this browser, newest first:
   * [{id, status ("running": unfinished, "stopped", "done", "failed"),
   * step (of the last checkpoint), steps, model, options (without the
   * data), created}]. */
  runs() {
    return this._call("runs");
  }

  /** run returns one run's record, its options and data included. */
  run(id) {
    return this._call("run", { id });
  }

  /** deleteRun removes a run and its checkpoint. */
  deleteRun(id) {
    return this._call("deleteRun", { id });
  }

  /**
   * generate continues prompt: maxTokens (64), temperature (0: greedy),
   * topK, topP, repetitionPenalty, seed, stop (strings), adapter (apply
   * the current adapter). onToken receives each piece of text as it
   * comes. Resolves to the whole continuation; stop() ends it early.
   */
  generate(prompt, { maxTokens, temperature, topK, topP, repetitionPenalty, seed, stop, adapter = false, onToken } = {}) {
    return this._call("generate", { prompt, maxTokens, temperature, topK, topP, repetitionPenalty, seed, stop, adapter }, (ev) => {
      if (ev.type === "token") onToken?.(ev.text);
    });
  }

  /**
   * evaluate scores a text as `webpeft eval` does: the mean cross-entropy
   * per token (nats) of the loaded model, with the current adapter when
   * adapter is true, over consecutive windows of up to window tokens
   * (512). dataName ending in .jsonl joins its records' texts. onProgress
   * receives {done, total} tokens. Resolves to {loss, perplexity, tokens}.
   */
  evaluate(data, { dataName, adapter = false, window, onProgress } = {}) {
    if (typeof data !== "string") throw new WebPeftError("evaluate wants a text");
    return this._call("evaluate", { data, dataName, adapter, window }, (ev) => {
      if (ev.type === "progress") onProgress?.(ev);
    });
  }

  /**
   * exportAdapter returns the current adapter's files as File objects:
   * "peft" (Hugging Face PEFT: adapter_config.json +
   * adapter_model.safetensors; LoRA, IA3, prompt and prefix tuning),
   * "gguf" (a llama.cpp LoRA adapter, adapter.gguf; LoRA only) or
   * "native" (webpeft's own format; every method, bottleneck adapters
   * included).
   */
  async exportAdapter(format = "peft") {
    if (!FORMATS.includes(format)) throw new WebPeftError(`format ${format}: want one of ${FORMATS.join(", ")}`);
    const files = await this._call("exportAdapter", { format });
    const type = (name) => (name.endsWith(".json") ? "application/json" : "application/octet-stream");
    return files.map((f) => new File([f.data], f.name, { type: type(f.name) }));
  }

  /**
   * loadAdapter makes saved adapter files the current adapter: a .gguf
   * LoRA file, or adapter_config.json with adapter_model.safetensors
   * (Hugging Face PEFT or webpeft native). files: File objects, or
   * {name, data} with data an ArrayBuffer/Uint8Array/Blob. Resolves to
   * info().
   */
  async loadAdapter(files) {
    const list = [];
    for (const f of files) {
      const data = f instanceof Blob ? new Uint8Array(await f.arrayBuffer())
        : f.data instanceof Blob ? new Uint8Array(await f.data.arrayBuffer())
          : new Uint8Array(f.data);
      list.push({ name: f.name, data });
    }
    return this._call("loadAdapter", { files: list });
  }

  /** pause holds training after the step in progress; resume continues. */
  pause() {
    return this._call("pause");
  }

  resume() {
    return this._call("resume");
  }

  /** stop ends the running training or generation (training keeps its adapter). */
  stop() {
    return this._call("stop");
  }

  /**
   * info: {model: {name, architecture, vocab, hidden, layers, heads,
   * kvHeads, context, maxPositions, bytes, weightBytes, types, …}
   * | null, device: {adapter, cpu, summary, features, limits} | null,
   * adapter: {name, methods, parameters, steps, configs} | null, busy}.
   */
  info() {
    return this._call("info");
  }

  /** terminate ends the worker (and frees the GPU). */
  terminate() {
    this.worker.terminate();
    this._die("the engine was terminated");
  }
}

export default WebPeft;
