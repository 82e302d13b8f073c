// app.js is the web app's main-thread code: the UI of index.html on top of
// webpeft.js (the engine itself runs in a Web Worker). window.webpeftApp
// mirrors what the page shows, for the headless browser tests.
import { WebPeft, hfRepo } from "./webpeft.js";
import uPlot from "./vendor/uplot/uPlot.esm.js";

const $ = (id) => document.getElementById(id);

const state = {
  ready: false, // the engine runs
  busy: "", // the operation running now
  model: null, // info().model
  adapter: null, // info().adapter
  stats: null, // dataStats of the current data
  estimate: null, // stats.estimate: the GPU memory and time training would take
  training: null, // {step, steps, loss, valLoss, tokensPerSecond, eta}
  paused: false,
  losses: [], // [{step, loss, valLoss}]
  chartUpdates: 0,
  samples: { base: "", adapted: "" },
  downloads: [], // names of the files offered for download
  cache: [], // the models stored in this browser (cachedModels)
  storage: null, // {usage, quota, persisted}
  run: "", // the id of the checkpointed run training now
  resume: null, // the unfinished run found at start: {id, step, steps, model}
  resumedFrom: 0, // the step the current run resumed from (0: a fresh run)
  checkpoints: [], // the steps checkpointed in this session
  valData: null, // an example's held-out validation text: {name, text}
  improvement: null, // after training with valData: {name, base, adapted, change} (losses; change a fraction)
  error: "",
  log: [],
};
window.webpeftApp = state;

let wp = null;
let dataName = ""; // the opened file's name ("" for pasted text)

function showError(err) {
  const msg = String((err && err.message) || err);
  state.error = msg;
  state.log.push(`error: ${msg}`);
  const box = $("error");
  box.textContent = msg;
  box.hidden = false;
}

function clearError() {
  state.error = "";
  $("error").hidden = true;
}

function setBusy(what) {
  state.busy = what;
  const idle = !what;
  const hasModel = !!state.model;
  $("load-model").disabled = !idle || !state.ready;
  $("train").disabled = !idle || !hasModel || !state.stats;
  $("generate").disabled = !idle || !hasModel;
  const training = what === "training";
  $("pause").disabled = !training;
  $("stop").disabled = !(training || what === "generating");
  for (const f of ["peft", "gguf", "native"]) $(`download-${f}`).disabled = !idle || !state.adapter;
  if (state.adapter && !state.adapter.methods.every((m) => m === "lora")) $("download-gguf").disabled = true;
  if (state.adapter && state.adapter.methods.includes("adapter")) $("download-peft").disabled = true;
  $("adapter-files").disabled = !idle || !hasModel;
}

const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function formatTime(s) {
  if (s === null || s === undefined || !isFinite(s)) return "–";
  s = Math.round(s);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

// --- WebGPU support -------------------------------------------------------

// checkSupport explains, before anything loads, what is missing when this
// browser cannot run the engine.
async function checkSupport() {
  const box = $("support");
  const say = (html) => {
    box.innerHTML = html;
    box.hidden = false;
    box.classList.add("error");
  };
  if (!("gpu" in navigator)) {
    say(`<strong>WebGPU is not available in this browser</strong>, and webpeft needs it to run the model on your GPU.
      Use a recent Chrome or Edge (WebGPU is on by default on Windows, macOS and ChromeOS), Safari 26, or Firefox 141+;
      on Linux start Chrome with <code>--enable-unsafe-webgpu</code> or enable it at <code>chrome://flags/#enable-unsafe-webgpu</code>.
      The page must be served over https or from localhost; otherwise try another browser.`);
    return false;
  }
  let adapter = null;
  try {
    adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (e) {
    // reported below
  }
  if (!adapter) {
    say(`<strong>WebGPU is present but no GPU adapter is available.</strong> The GPU may be blocklisted or WebGPU
      disabled: update the graphics driver, check <code>chrome://gpu</code>, or try another browser (a recent Chrome or Edge) or computer.`);
    return false;
  }
  const lim = adapter.limits;
  const missing = [];
  if (lim.maxStorageBufferBindingSize < 128 * 2 ** 20) missing.push(`storage buffer bindings of 128 MiB (this GPU offers ${mib(lim.maxStorageBufferBindingSize)})`);
  if (lim.maxStorageBuffersPerShaderStage < 8) missing.push(`8 storage buffers per shader (this GPU offers ${lim.maxStorageBuffersPerShaderStage})`);
  if (lim.maxComputeInvocationsPerWorkgroup < 256) missing.push(`256 invocations per workgroup (this GPU offers ${lim.maxComputeInvocationsPerWorkgroup})`);
  if (missing.length) {
    say(`<strong>This GPU's WebGPU limits are too small for webpeft.</strong> It needs ${missing.join(", ")}.
      Try a desktop Chrome or Edge, or another device.`);
    return false;
  }
  if (adapter.info && adapter.isFallbackAdapter) {
    box.textContent = "WebGPU runs on a software adapter here: everything works, slowly.";
    box.hidden = false;
  }
  return true;
}

// --- model ------------------------------------------------------------------

function modelSource() {
  const kind = document.querySelector('input[name="model-source"]:checked').value;
  if (kind === "file") {
    const f = $("model-file").files[0];
    if (!f) throw new Error("Choose a GGUF file first.");
    return f;
  }
  if (kind === "folder") {
    const files = $("model-folder").files;
    if (!files.length) throw new Error("Choose a Hugging Face model folder first.");
    return files;
  }
  if (kind === "url") {
    const u = $("model-url").value.trim();
    if (!u) throw new Error("Enter the model's URL first.");
    return u;
  }
  return "default";
}

async function loadModel() {
  clearError();
  let source;
  let loaded = false;
  try {
    source = modelSource();
  } catch (e) {
    showError(e);
    return;
  }
  setBusy("loading a model");
  const bar = $("model-progress");
  bar.hidden = false;
  bar.removeAttribute("value");
  $("model-status").textContent = "Starting…";
  try {
    const token = $("model-token").value.trim() || undefined;
    // The token is kept on this device only (this origin's storage).
    if (token) localStorage.setItem("webpeft.hfToken", token);
    else localStorage.removeItem("webpeft.hfToken");
    if (typeof source === "string" && source !== "default" && !state.storage?.persisted) {
      // Downloads are kept: ask the browser not to evict them.
      wp.persistStorage().then((p) => { state.persistAsked = true; state.log.push(`persistent storage: ${p}`); }).catch(() => {});
    }
    // The token goes to the Hub only (Hub ids and hf: files), never to another server.
    const hub = typeof source === "string" && (source.startsWith("hf:") || !!hfRepo(source));
    const info = await wp.loadModel(source, {
      token: hub ? token : undefined,
      onProgress: (p) => {
        const what = { connecting: "Connecting", downloading: `Downloading ${p.file || ""}`, reading: "Reading the file",
          uploading: "Uploading weights to the GPU", calibrating: "Measuring this GPU's speed" }[p.phase] || p.phase;
        if (p.total > 0) {
          bar.max = p.total;
          bar.value = p.done;
          $("model-status").textContent = `${what}: ${mib(p.done)} of ${mib(p.total)}`;
        } else {
          $("model-status").textContent = `${what}…`;
        }
      },
    });
    bar.max = 1;
    bar.value = 1;
    applyInfo(info);
    const m = info.model;
    $("model-status").textContent = `Loaded ${m.name}.`;
    $("prompt").value ||= "Once upon a time";
    updateStats();
    loaded = true;
  } catch (e) {
    bar.hidden = true;
    $("model-status").textContent = "";
    showError(e);
  } finally {
    setBusy("");
    refreshCache();
  }
  if (loaded && state.resume && !state.resume.started) resumeRun();
}

// --- the model cache --------------------------------------------------------

async function refreshCache() {
  if (!wp) return;
  try {
    const [list, storage] = await Promise.all([wp.cachedModels(), wp.storage()]);
    state.cache = list;
    state.storage = storage;
    const quota = storage.quota ? ` of ${mib(storage.quota)}` : "";
    $("storage-info").textContent = `This site stores ${mib(storage.usage || 0)}${quota} in this browser` +
      (storage.persisted ? " (persistent: the browser keeps it under storage pressure)." : " (the browser may evict it under storage pressure).");
    const table = $("cache-list");
    table.innerHTML = "";
    if (!list.length) {
      table.innerHTML = "<tr><td>No downloaded models yet.</td></tr>";
      return;
    }
    for (const m of list) {
      const tr = document.createElement("tr");
      tr.dataset.key = m.key;
      const size = m.files.reduce((n, f) => n + Math.max(f.size, 0), 0);
      const cells = [m.name || m.source, m.kind === "hf" ? "Hugging Face" : "URL",
        m.complete ? mib(m.bytes) : `${mib(m.bytes)} of ${size > 0 ? mib(size) : "?"} (partial: load it to continue)`];
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = c;
        tr.append(td);
      }
      const td = document.createElement("td");
      const load = document.createElement("button");
      load.textContent = m.complete ? "Load" : "Continue";
      load.className = "cache-load";
      load.onclick = () => {
        document.querySelector('input[value="url"]').checked = true;
        $("model-url").value = m.source;
        loadModel();
      };
      const del = document.createElement("button");
      del.textContent = "Delete";
      del.className = "cache-delete";
      del.onclick = async () => {
        await wp.deleteCachedModel(m.key);
        refreshCache();
      };
      td.append(load, " ", del);
      tr.append(td);
      table.append(tr);
    }
  } catch (e) {
    state.log.push(`model cache: ${e}`);
  }
}

function applyInfo(info) {
  state.model = info.model;
  state.adapter = info.adapter;
  const m = info.model;
  if (m) {
    const types = Object.entries(m.types).map(([t, n]) => `${n} ${t}`).join(", ");
    $("model-info").innerHTML = "";
    const rows = [
      ["Model", m.name],
      ["Architecture", `${m.architecture}: ${m.layers} layers, hidden ${m.hidden}, ${m.heads} heads (${m.kvHeads} KV), vocabulary ${m.vocab}`],
      ["Context", `${m.maxPositions} positions`],
      ["Weights", `${mib(m.weightBytes)} on the GPU (${types} tensors)`],
      ["GPU", info.device ? info.device.summary : ""],
    ];
    for (const [k, v] of rows) {
      const div = document.createElement("div");
      const b = document.createElement("b");
      b.textContent = `${k}: `;
      div.append(b, v);
      $("model-info").append(div);
    }
  }
  const a = info.adapter;
  $("adapter-info").textContent = a
    ? `Adapter: ${a.methods.join(" + ")} (${a.name}), ${a.parameters.toLocaleString()} trained parameters${a.steps ? `, ${a.steps} steps` : ""}.`
    : "No adapter yet.";
}

// --- data -------------------------------------------------------------------

let statsTimer = 0;
let statsSeq = 0;

function updateStats() {
  clearTimeout(statsTimer);
  statsTimer = setTimeout(async () => {
    const data = $("data-text").value;
    const mySeq = ++statsSeq;
    if (!state.model || !data.trim()) {
      state.stats = null;
      $("data-stats").textContent = data.trim() ? "Load a model to count tokens." : "";
      showEstimate(null, "");
      setBusy(state.busy);
      return;
    }
    try {
      const s = await wp.dataStats(trainOptions(false));
      if (mySeq !== statsSeq) return;
      state.stats = s;
      $("data-stats").textContent = `${s.tokens.toLocaleString()} tokens (${s.targetTokens.toLocaleString()} trained on) in ${s.examples} sequences of up to ${s.seq} tokens: ` +
        `${s.trainExamples} for training, ${s.valExamples} for validation; ${s.stepsPerEpoch} steps per epoch.` +
        (s.warnings?.length ? ` Warnings: ${s.warnings.join("; ")}` : "");
      showEstimate(s.estimate, s.estimateError);
    } catch (e) {
      if (mySeq !== statsSeq) return;
      state.stats = null;
      $("data-stats").textContent = String((e && e.message) || e);
      showEstimate(null, "");
    }
    setBusy(state.busy);
  }, 300);
}

function formatMinutes(s) {
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

// showEstimate puts what training would cost next to the Train button:
// the GPU memory (the model's weights and the training program) and the
// time (FLOPs at the rate measured on this GPU at load), with a warning,
// not a refusal, above the device's budget.
function showEstimate(e, err) {
  state.estimate = e || null;
  const el = $("train-estimate");
  el.classList.remove("warn");
  el.title = "";
  if (!e) {
    el.textContent = err ? `No estimate: ${err}` : "";
    return;
  }
  const time = e.estimatedSeconds === null ? "time unknown" : `≈ ${formatMinutes(e.estimatedSeconds)}`;
  el.textContent = `≈ ${mib(e.gpuBytes)} of GPU memory, ${time} for ${e.steps} steps`;
  el.title = `weights ${mib(e.weightBytes)}, training program ${mib(e.programBytes)} (activations ${mib(e.activationBytes)}` +
    `${e.recompute ? ", recomputed per layer" : ""}); ${(e.flopsPerStep / 1e9).toFixed(2)} GFLOP per step; ${e.parameters.toLocaleString()} trained parameters`;
  if (e.overBudget) {
    el.classList.add("warn");
    el.textContent += ` — more than this GPU is likely to grant (${mib(e.budgetBytes)}): training may fail; lower the sequence length or batch`;
  }
}

async function openDataFile() {
  const f = $("data-file").files[0];
  if (!f) return;
  dataName = f.name;
  $("data-text").value = await f.text();
  updateStats();
}

// openExample loads one of the demo datasets shipped in data/ (see
// data/LICENSE.md) with its held-out validation split, so that training
// ends with the base and the adapted model measured on the same unseen
// text.
async function openExample(file, valFile, method, settings = {}) {
  const get = async (f) => {
    const res = await fetch(`data/${f}`);
    if (!res.ok) throw new Error(`data/${f}: ${res.status} ${res.statusText}`);
    return res.text();
  };
  try {
    const [text, val] = await Promise.all([get(file), get(valFile)]);
    dataName = file;
    $("data-text").value = text;
    setValData({ name: valFile, text: val });
    $("method").value = method;
    methodChanged();
    for (const [id, v] of Object.entries(settings)) {
      if (id === "targets") for (const c of document.querySelectorAll('input[name="target"]')) c.checked = v.includes(c.value);
      else $(id).value = v;
      if (id === "lr") lrTouched = true;
    }
    updateStats();
  } catch (e) {
    showError(e);
  }
}

// The examples' LoRA: every linear layer, rank 16, lr 3e-3, as `make
// demo-eval` trains it (a rank-8 q,v LoRA moves the default model less);
// the spam e-mails at sequence 256, so that their subject lines fit.
const exampleLoRA = { rank: 16, alpha: 32, lr: 3e-3, targets: ["q", "k", "v", "o", "gate", "up", "down"] };

// setValData sets (or with null clears) the held-out validation text.
function setValData(v) {
  state.valData = v;
  $("val-data").hidden = !v;
  $("val-data-name").textContent = v ? v.name : "";
  $("val-split").disabled = !!v;
}

// measureImprovement scores the held-out validation text with the base
// model and with the trained adapter (webpeft eval's loss), and shows the
// change.
async function measureImprovement() {
  const v = state.valData;
  $("improvement").textContent = `Measuring the base and the adapted model on ${v.name}…`;
  const base = await wp.evaluate(v.text, { dataName: v.name });
  const adapted = await wp.evaluate(v.text, { dataName: v.name, adapter: true });
  const change = (adapted.loss - base.loss) / base.loss;
  state.improvement = { name: v.name, base: base.loss, adapted: adapted.loss, change, tokens: base.tokens };
  $("improvement").textContent = `Held-out ${v.name} (${base.tokens.toLocaleString()} tokens): loss ${base.loss.toFixed(3)} ` +
    `(perplexity ${base.perplexity.toFixed(1)}) with the base model, ${adapted.loss.toFixed(3)} (perplexity ` +
    `${adapted.perplexity.toFixed(1)}) with the adapter: ${(100 * change).toFixed(1)}%.`;
}

// --- method -------------------------------------------------------------------

const defaultLR = { lora: 1e-3, adapter: 1e-3, prompt: 3e-2, prefix: 1e-2, ia3: 1e-2 };
let lrTouched = false;

function methodChanged() {
  const m = $("method").value;
  for (const el of document.querySelectorAll(".lora")) el.hidden = m !== "lora";
  for (const el of document.querySelectorAll(".virtual")) el.hidden = m !== "prompt" && m !== "prefix";
  for (const el of document.querySelectorAll(".adapter")) el.hidden = m !== "adapter";
  if (!lrTouched) $("lr").value = defaultLR[m];
}

const num = (id) => Number($(id).value);

// trainOptions reads the form; strict refuses a LoRA run without targets.
function trainOptions(strict = true) {
  const method = $("method").value;
  const o = {
    data: $("data-text").value, dataName, method, steps: num("steps"), seq: num("seq"), batch: num("batch"),
    lr: num("lr"), schedule: $("schedule").value, valSplit: num("val-split"), seed: 1,
  };
  if (state.valData) {
    o.valData = state.valData.text;
    o.valDataName = state.valData.name;
  }
  if (num("checkpoint-every") > 0) o.checkpointEvery = num("checkpoint-every");
  if (num("eval-every") > 0) o.evalEvery = num("eval-every");
  if (method === "lora") {
    o.rank = num("rank");
    o.alpha = num("alpha");
    o.targets = [...document.querySelectorAll('input[name="target"]:checked')].map((c) => c.value);
    if (!o.targets.length) {
      if (strict) throw new Error("Choose at least one LoRA target.");
      delete o.targets;
    }
  }
  if (method === "prompt" || method === "prefix") o.virtualTokens = num("virtual-tokens");
  if (method === "adapter") o.bottleneck = num("bottleneck");
  return o;
}

// showOptions puts a stored run's settings back into the form.
function showOptions(o) {
  $("data-text").value = o.data || "";
  dataName = o.dataName || "";
  setValData(o.valData ? { name: o.valDataName || "validation.txt", text: o.valData } : null);
  $("method").value = o.method || "lora";
  lrTouched = true;
  methodChanged();
  const fields = { steps: "steps", seq: "seq", batch: "batch", lr: "lr", schedule: "schedule", valSplit: "val-split", rank: "rank",
    alpha: "alpha", virtualTokens: "virtual-tokens", bottleneck: "bottleneck", checkpointEvery: "checkpoint-every",
    evalEvery: "eval-every" };
  for (const [k, id] of Object.entries(fields)) if (o[k] !== undefined && o[k] !== null) $(id).value = o[k];
  if (o.targets) for (const c of document.querySelectorAll('input[name="target"]')) c.checked = o.targets.includes(c.value);
}

// --- training -----------------------------------------------------------------

let chart = null;

function makeChart() {
  const el = $("chart");
  el.innerHTML = "";
  const width = Math.max(300, el.clientWidth || 600);
  chart = new uPlot({
    width, height: 240,
    scales: { x: { time: false } },
    axes: [{ label: "step" }, { label: "loss" }],
    series: [
      { label: "step" },
      { label: "train", stroke: "#1565c0", width: 2 },
      { label: "validation", stroke: "#e65100", width: 2, spanGaps: true, points: { show: true, size: 6 } },
    ],
  }, [[], [], []], el);
}

function updateChart() {
  const xs = state.losses.map((p) => p.step);
  const tr = state.losses.map((p) => p.loss);
  const va = state.losses.map((p) => (p.valLoss === null ? null : p.valLoss));
  chart.setData([xs, tr, va]);
  state.chartUpdates++;
}

function showStep(s) {
  state.training = s;
  state.losses.push(s);
  $("train-progress").max = s.steps;
  $("train-progress").value = s.step;
  $("m-step").textContent = `${s.step} / ${s.steps}`;
  $("m-loss").textContent = s.loss === null ? "–" : s.loss.toFixed(4);
  if (s.valLoss !== null) $("m-val").textContent = s.valLoss.toFixed(4);
  $("m-speed").textContent = s.tokensPerSecond ? s.tokensPerSecond.toFixed(1) : "–";
  $("m-eta").textContent = formatTime(s.eta);
  updateChart();
}

async function startTraining() {
  clearError();
  let opts;
  try {
    opts = trainOptions();
  } catch (e) {
    showError(e);
    return;
  }
  // Finished runs' checkpoints are of no more use (the adapter is here).
  try {
    for (const r of await wp.runs()) if (r.status !== "running") await wp.deleteRun(r.id);
  } catch (e) {
    state.log.push(`runs: ${e}`);
  }
  await runTraining((handlers) => wp.train(opts, { ...handlers, checkpoint: true }));
}

// resumeRun continues the unfinished run found at start (state.resume),
// once its model is loaded.
async function resumeRun() {
  const r = state.resume;
  r.started = true;
  $("resume-text").textContent = `Resuming the training run interrupted after step ${r.step} of ${r.steps} (its last checkpoint)…`;
  await runTraining((handlers) => wp.resumeRun(r.id, handlers));
  state.resume = null;
  $("resume-banner").hidden = true;
}

// runTraining runs train (a new run, or a resumed one) with the page's
// progress handlers.
async function runTraining(train) {
  state.losses = [];
  state.training = null;
  state.paused = false;
  state.summary = null;
  state.improvement = null;
  $("improvement").textContent = "";
  state.resumedFrom = 0;
  for (const id of ["m-step", "m-loss", "m-val", "m-speed", "m-eta"]) $(id).textContent = "–";
  makeChart();
  setBusy("training");
  $("pause").textContent = "Pause";
  $("train-status").textContent = "Preparing the training program (compiling kernels)…";
  try {
    const sum = await train({
      onStep: showStep,
      onEvent: (ev) => {
        if (ev.type === "start") {
          $("train-progress").max = ev.steps;
          $("train-progress").value = ev.resumedFrom || 0;
          state.resumedFrom = ev.resumedFrom || 0;
          state.startedAt = Date.now();
          if (ev.history?.length) {
            state.losses = ev.history.map((p) => ({ ...p, steps: ev.steps, resumed: true }));
            updateChart();
          }
          $("train-status").textContent = `Training ${ev.method} (${ev.parameters.toLocaleString()} parameters) on ${ev.trainExamples} sequences for ${ev.steps} steps` +
            (ev.resumedFrom ? `, resumed after step ${ev.resumedFrom}` : "") + `; checkpoints every ${ev.checkpointEvery} steps…`;
        } else if (ev.type === "paused") {
          state.paused = true;
          state.pausedAt = ev.step;
          $("train-status").textContent = `Paused after step ${ev.step}.`;
        } else if (ev.type === "resumed") {
          state.paused = false;
          $("train-status").textContent = "Training…";
        } else if (ev.type === "checkpoint") {
          state.checkpoints.push(ev.step);
          state.lastCheckpoint = ev.step;
        } else if (ev.type === "warning") {
          state.log.push(`warning: ${ev.message}`);
        }
      },
    });
    state.summary = sum;
    state.run = sum.run || "";
    $("train-status").textContent = `${sum.stopped ? "Stopped" : "Done"} after ${sum.steps} steps: loss ${sum.loss?.toFixed(4)}` +
      (sum.valLoss !== null ? `, validation ${sum.valLoss.toFixed(4)}` : "") + `, ${sum.tokensPerSecond?.toFixed(1)} tokens/s.`;
    applyInfo(await wp.info());
    if (state.valData) await measureImprovement();
  } catch (e) {
    $("train-status").textContent = "Training failed.";
    showError(e);
  } finally {
    state.paused = false;
    $("pause").textContent = "Pause";
    setBusy("");
  }
}

async function togglePause() {
  if (state.paused || $("pause").textContent === "Resume") {
    $("pause").textContent = "Pause";
    await wp.resume();
  } else {
    $("pause").textContent = "Resume";
    $("train-status").textContent = "Pausing after this step…";
    await wp.pause();
  }
}

// --- samples ------------------------------------------------------------------

async function generate() {
  clearError();
  const prompt = $("prompt").value;
  const opts = { maxTokens: num("max-tokens"), temperature: num("temperature") };
  setBusy("generating");
  state.samples = { base: "", adapted: "" };
  $("sample-base").textContent = "";
  $("sample-adapted").textContent = state.adapter ? "" : "(no adapter yet: train one or load one)";
  try {
    for (const which of state.adapter ? ["base", "adapted"] : ["base"]) {
      const out = $(`sample-${which}`);
      out.textContent = prompt;
      const strong = document.createElement("span");
      strong.className = "generated";
      out.append(strong);
      const text = await wp.generate(prompt, {
        ...opts, adapter: which === "adapted",
        onToken: (t) => { strong.textContent += t; },
      });
      strong.textContent = text;
      state.samples[which] = text;
    }
  } catch (e) {
    showError(e);
  } finally {
    setBusy("");
  }
}

// --- adapter files ------------------------------------------------------------

async function download(format) {
  clearError();
  setBusy("exporting");
  try {
    const files = await wp.exportAdapter(format);
    for (const f of files) {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(f);
      a.download = f.name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
      state.downloads.push(`${format}/${f.name}`);
    }
  } catch (e) {
    showError(e);
  } finally {
    setBusy("");
  }
}

async function loadAdapter() {
  const files = [...$("adapter-files").files];
  if (!files.length) return;
  clearError();
  setBusy("loading an adapter");
  try {
    applyInfo(await wp.loadAdapter(files));
  } catch (e) {
    showError(e);
  } finally {
    $("adapter-files").value = "";
    setBusy("");
  }
}

// --- start ------------------------------------------------------------------

// registerOffline installs the service worker (sw.js) that keeps the app
// shell for offline use; state.offlineReady says when it is cached.
function registerOffline() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("sw.js").catch((e) => state.log.push(`service worker: ${e}`));
  navigator.serviceWorker.ready.then(() => { state.offlineReady = true; });
}

async function main() {
  registerOffline();
  $("load-model").onclick = loadModel;
  $("model-file").onchange = () => { document.querySelector('input[value="file"]').checked = true; };
  $("model-url").oninput = () => { document.querySelector('input[value="url"]').checked = true; };
  $("model-folder").onchange = () => { document.querySelector('input[value="folder"]').checked = true; };
  $("model-token").value = localStorage.getItem("webpeft.hfToken") || "";
  $("resume-discard").onclick = discardRun;
  $("data-text").oninput = () => { dataName = ""; setValData(null); updateStats(); };
  $("data-file").onchange = openDataFile;
  $("example-lincoln").onclick = () => openExample("lincoln-train.txt", "lincoln-val.txt", "lora", exampleLoRA);
  $("example-spam").onclick = () => openExample("spam-train.jsonl", "spam-val.jsonl", "lora", { ...exampleLoRA, seq: 256 });
  $("val-data-clear").onclick = () => { setValData(null); updateStats(); };
  // Every setting that changes the data's split or the estimate.
  for (const id of ["seq", "val-split", "batch", "steps", "rank", "virtual-tokens", "bottleneck", "eval-every"]) $(id).oninput = updateStats;
  for (const c of document.querySelectorAll('input[name="target"]')) c.onchange = updateStats;
  $("method").onchange = () => { methodChanged(); updateStats(); };
  $("lr").oninput = () => { lrTouched = true; };
  $("train").onclick = startTraining;
  $("pause").onclick = togglePause;
  $("stop").onclick = () => wp.stop();
  $("generate").onclick = generate;
  for (const f of ["peft", "gguf", "native"]) $(`download-${f}`).onclick = () => download(f);
  $("adapter-files").onchange = loadAdapter;
  methodChanged();
  makeChart();
  setBusy("starting");
  if (!(await checkSupport())) {
    state.unsupported = $("support").textContent.replace(/\s+/g, " ").trim();
    setBusy("unsupported");
    return;
  }
  try {
    // A hub other than huggingface.co (a mirror; the tests' server).
    wp = await WebPeft.create({ hubBase: localStorage.getItem("webpeft.hubBase") || undefined });
    state.ready = true;
    setBusy("");
  } catch (e) {
    showError(e);
    return;
  }
  refreshCache();
  await findUnfinishedRun();
}

// findUnfinishedRun resumes a training run that a reload or a closed tab
// interrupted: its settings and data come back into the form, its model
// loads (the default, or a URL or Hugging Face model from the cache), and
// training continues from its last checkpoint. A model from a file must
// be chosen again.
async function findUnfinishedRun() {
  let r;
  try {
    r = (await wp.runs()).find((x) => x.status === "running");
  } catch (e) {
    state.log.push(`runs: ${e}`);
    return;
  }
  if (!r) return;
  const full = await wp.run(r.id);
  state.resume = { id: r.id, step: r.step || 0, steps: r.steps || full.options.steps, model: r.model };
  showOptions(full.options);
  $("resume-banner").hidden = false;
  const m = r.model || {};
  if (m.source) {
    $("resume-text").textContent = `An unfinished training run (checkpoint after step ${r.step || 0} of ${state.resume.steps}) was found: loading its model to resume it…`;
    if (m.source === "default") {
      document.querySelector('input[value="default"]').checked = true;
    } else {
      document.querySelector('input[value="url"]').checked = true;
      $("model-url").value = m.source;
    }
    loadModel();
  } else {
    $("resume-text").textContent = `An unfinished training run (checkpoint after step ${r.step || 0} of ${state.resume.steps}) was found. ` +
      `Its model came from ${m.file ? `the file ${m.file}` : `the folder ${m.folder || "?"}`}: choose it again and click Load model to resume.`;
  }
}

async function discardRun() {
  const r = state.resume;
  if (!r) return;
  state.resume = null;
  $("resume-banner").hidden = true;
  if (r.started && state.busy === "training") await wp.stop();
  await wp.deleteRun(r.id);
}

main();
