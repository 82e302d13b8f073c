// worker.js runs the webpeft engine (Go compiled to WebAssembly) off the
// page's main thread. It speaks two protocols:
//
//   - the op-test and benchmark pages (runner.js) post {cmd: "tests" |
//     "benches", filter} and receive the engine's events ({type: "device" |
//     "start" | "case" | "bench" | "done" | "error", ...});
//   - the app's API (webpeft.js) posts {id, call, args} and receives
//     {id, event} for each progress event, then {id, result} or
//     {id, error}. Calls: loadModel, dataStats, train, generate,
//     exportAdapter, loadAdapter, info, pause, resume, stop. pause,
//     resume and stop act at once, even while another call runs.
//
// The worker posts {type: "ready"} (no id) once the engine is running, or
// {type: "fatal", message} when it fails to start or dies.
importScripts("wasm_exec.js");

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

// call runs one API call on the engine.
async function call(webpeft, name, args, emit) {
  switch (name) {
    case "loadModel":
      return parse(await webpeft.loadModel(args.source, JSON.stringify(args.options || {}), emit));
    case "dataStats":
      return parse(await webpeft.dataStats(JSON.stringify(args)));
    case "train":
      return parse(await webpeft.train(JSON.stringify(args), emit));
    case "generate":
      return await webpeft.generate(JSON.stringify(args), emit);
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
