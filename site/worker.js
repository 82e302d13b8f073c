// worker.js runs the webpeft engine (Go compiled to WebAssembly) off the
// page's main thread. The page posts {cmd: "tests" | "benches"}; the worker
// answers with the engine's events ({type: "device" | "case" | "bench" |
// "done" | "error", ...}).
importScripts("wasm_exec.js");

async function start() {
  const go = new Go();
  const result = await WebAssembly.instantiateStreaming(fetch("main.wasm"), go.importObject);
  // The WebGPU binding's Queue.WriteBuffer reads the Go heap through
  // globalThis.wasm.instance.exports.mem, so this must be set before Go runs.
  globalThis.wasm = result;
  go.run(result.instance);
  while (!globalThis.webpeft) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return globalThis.webpeft;
}

const engine = start();

onmessage = async (event) => {
  try {
    const webpeft = await engine;
    const run = { tests: webpeft.runTests, benches: webpeft.runBenches }[event.data.cmd];
    if (!run) throw new Error(`unknown command ${event.data.cmd}`);
    await run((ev) => postMessage(ev));
  } catch (err) {
    postMessage({ type: "error", message: String((err && err.message) || err) });
  }
};
