// worker.js runs the webpeft engine (Go compiled to WebAssembly) off the
// page's main thread. It speaks two protocols:
//
//   - the op-test and benchmark pages (runner.js) post {cmd: "tests" |
//     "benches", filter} and receive the engine's events ({type: "device" |
//     "start" | "case" | "bench" | "done" | "error", ...});
//   - the app's API (webpeft.js) posts {id, call, args} and receives
//     {id, event} for each progress event, then {id, result} or
//     {id, error}. Calls: loadModel, dataStats, train, resumeRun, runs,
//     run, deleteRun, cachedModels, deleteCachedModel, generate,
//     evaluate, exportAdapter, loadAdapter, info, pause, resume, stop. pause,
//     resume and stop act at once, even while another call runs. The
//     storage calls (OPFS: training runs and the model cache) are in
//     store.js.
//
// The worker posts {type: "ready"} (no id) once the engine is running, or
// {type: "fatal", message} when it fails to start or dies.
importScripts("wasm_exec.js", "store.js");

// The engine's last output lines. wasm_exec.js prints Go's stdout and stderr
// (a panic's message and stack included) through console.log, which only the
// worker's console shows; keep the tail so that an engine that dies says why
// instead of leaving the page waiting for ever.
const lastLines = [];
for (const level of ["log", "warn", "error"]) {
  const print = console[level].bind(console);
  console[level] = (...args) => {
    lastLines.push(args.map(String).join(" "));
    if (lastLines.length > 30) lastLines.shift();
    print(...args);
  };
}

// Calls still waiting for the engine, so that an engine that dies fails
// them instead of leaving them pending.
const pending = new Set();
let dead = "";

async function start() {
  const go = new Go();
  const result = await WebAssembly.instantiateStreaming(fetch("main.wasm"), go.importObject);
  // The WebGPU binding's Queue.WriteBuffer reads the Go heap through
  // globalThis.wasm.instance.exports.mem, so this must be set before Go runs.
  globalThis.wasm = result;
  // main never returns (select {}), so the program ending means a panic or a
  // fatal error: every pending call would otherwise wait for ever.
  go.run(result.instance).then(() => {
    dead = `The engine stopped (the Go program exited). Its last output:\n${lastLines.join("\n")}`;
    postMessage({ type: "error", message: dead });
    postMessage({ type: "fatal", message: dead });
    for (const id of pending) postMessage({ id, error: dead });
    pending.clear();
  });
  while (!globalThis.webpeft) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return globalThis.webpeft;
}

const engine = start();
engine.then(
  () => postMessage({ type: "ready" }),
  (err) => postMessage({ type: "fatal", message: `The engine failed to start: ${(err && err.message) || err}` }),
);

const parse = (s) => (typeof s === "string" ? JSON.parse(s) : s);

// loadModel loads a model: a URL is downloaded into the model cache
// first (OPFS, resumable) unless options.cache is false, a Hugging Face
// repository's files likewise (args.hf: {repo, revision, hubBase}); a
// Blob, or a list of {name, data: Blob} (a model folder), is read as it is.
async function loadModel(webpeft, args, emit) {
  const o = { ...(args.options || {}) };
  let source = args.source;
  const onProgress = ({ file, done, total }) => emit({ type: "progress", phase: "downloading", file, done, total });
  if (args.hf) {
    emit({ type: "progress", phase: "connecting", done: 0, total: 0 });
    source = await webpeftStore.models.hf(args.hf.repo, { ...args.hf, headers: o.headers, onProgress });
    o.name ||= args.hf.repo;
  } else if (typeof source === "string" && o.cache) {
    emit({ type: "progress", phase: "connecting", done: 0, total: 0 });
    source = await webpeftStore.models.url(source, { headers: o.headers, name: o.name, onProgress });
  }
  return parse(await webpeft.loadModel(source, JSON.stringify({ name: o.name, headers: o.headers }), emit));
}

// train runs a training run; with a checkpoint it is recorded in OPFS
// (run.json: options, data and model) and checkpointed every few steps
// (checkpoint.bin), so that resumeRun continues it after a reload.
async function trainRun(webpeft, id, options, emit, checkpoint) {
  const save = (bytes, step) => webpeftStore.runs.saveCheckpoint(id, bytes, step);
  try {
    const sum = parse(await webpeft.train(JSON.stringify(options), emit, save, checkpoint || undefined));
    await webpeftStore.runs.update(id, { status: sum.stopped ? "stopped" : "done", finished: Date.now(), summary: sum });
    return { ...sum, run: id };
  } catch (err) {
    await webpeftStore.runs.update(id, { status: "failed", error: String((err && err.message) || err) }).catch(() => {});
    throw err;
  }
}

// call runs one API call on the engine.
async function call(webpeft, name, args, emit) {
  switch (name) {
    case "loadModel":
      return loadModel(webpeft, args, emit);
    case "dataStats":
      return parse(await webpeft.dataStats(JSON.stringify(args)));
    case "train": {
      const { checkpoint, ...options } = args;
      if (!checkpoint) return parse(await webpeft.train(JSON.stringify(options), emit));
      await webpeftStore.runs.create({ id: checkpoint.id, status: "running", created: Date.now(), model: checkpoint.model || null,
        options, steps: options.steps || null, step: 0 });
      return trainRun(webpeft, checkpoint.id, options, emit, null);
    }
    case "resumeRun": {
      const { run, checkpoint } = await webpeftStore.runs.get(args.id);
      if (!run || !run.options) throw new Error(`no training run ${args.id} is stored in this browser`);
      await webpeftStore.runs.update(args.id, { status: "running", resumed: (run.resumed || 0) + 1 });
      return trainRun(webpeft, args.id, run.options, emit, checkpoint);
    }
    case "runs":
      return webpeftStore.runs.list();
    case "run":
      return (await webpeftStore.runs.get(args.id)).run;
    case "deleteRun":
      return webpeftStore.runs.remove(args.id);
    case "cachedModels":
      return webpeftStore.models.list();
    case "deleteCachedModel":
      return webpeftStore.models.remove(args.key);
    case "generate":
      return await webpeft.generate(JSON.stringify(args), emit);
    case "evaluate":
      return parse(await webpeft.evaluate(JSON.stringify(args), emit));
    case "exportAdapter":
      return await webpeft.exportAdapter(args.format || "native");
    case "loadAdapter":
      return parse(await webpeft.loadAdapter(args.files));
    case "info":
      return parse(await webpeft.info());
    case "pause":
    case "resume":
    case "stop":
      webpeft[name]();
      return null;
  }
  throw new Error(`unknown call ${name}`);
}

onmessage = async (event) => {
  const msg = event.data;
  if (msg.id === undefined) return runPage(msg);
  const { id } = msg;
  if (dead) {
    postMessage({ id, error: dead });
    return;
  }
  pending.add(id);
  try {
    const webpeft = await engine;
    const emit = (ev) => postMessage({ id, event: parse(ev) });
    const result = await call(webpeft, msg.call, msg.args || {}, emit);
    // Adapter files travel as transferred buffers.
    const transfer = Array.isArray(result) ? result.filter((f) => f && f.data).map((f) => f.data.buffer) : [];
    if (pending.delete(id)) postMessage({ id, result }, transfer);
  } catch (err) {
    if (pending.delete(id)) postMessage({ id, error: String((err && err.message) || err) });
  }
};

// runPage serves the op-test and benchmark pages.
async function runPage(msg) {
  try {
    const webpeft = await engine;
    const run = { tests: webpeft.runTests, benches: webpeft.runBenches }[msg.cmd];
    if (!run) throw new Error(`unknown command ${msg.cmd}`);
    await run((ev) => postMessage(ev), msg.filter || "");
  } catch (err) {
    postMessage({ type: "error", message: String((err && err.message) || err) });
  }
}
