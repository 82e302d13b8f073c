// worker.js runs the webpeft engine (Go compiled to WebAssembly) off the
// page's main thread. The page posts {cmd: "tests" | "benches", filter}; the
// worker answers with the engine's events ({type: "device" | "start" |
// "case" | "bench" | "done" | "error", ...}).
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

async function start() {
  const go = new Go();
  const result = await WebAssembly.instantiateStreaming(fetch("main.wasm"), go.importObject);
  // The WebGPU binding's Queue.WriteBuffer reads the Go heap through
  // globalThis.wasm.instance.exports.mem, so this must be set before Go runs.
  globalThis.wasm = result;
  // main never returns (select {}), so the program ending means a panic or a
  // fatal error: every pending call would otherwise wait for ever.
  go.run(result.instance).then(() => {
    postMessage({ type: "error", message: `The engine stopped (the Go program exited). Its last output:\n${lastLines.join("\n")}` });
  });
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
    await run((ev) => postMessage(ev), event.data.filter || "");
  } catch (err) {
    postMessage({ type: "error", message: String((err && err.message) || err) });
  }
};
