// runner.js drives worker.js from a page and renders its events into a
// table. It also keeps window.webpeftRun up to date, which the headless
// browser tests read: current names the case running now, lastEventAt
// (Date.now()) tells a stalled run from a slow one. tests.html?run=REGEXP
// runs only the cases whose name matches.
export function run(cmd, table, status) {
  const state = {
    peak: 0, done: false, adapter: "", device: "", rows: [], passed: 0, failed: 0, error: "",
    current: "", lastEventAt: Date.now(),
  };
  window.webpeftRun = state;
  const worker = new Worker("worker.js");
  const say = (text, cls) => {
    status.textContent = text;
    status.className = cls || "";
  };
  say("Loading the engine…");
  worker.onmessage = ({ data: ev }) => {
    state.lastEventAt = Date.now();
    switch (ev.type) {
      case "device":
        state.adapter = ev.adapter;
        state.device = ev.summary;
        say(`Running on ${ev.summary}${ev.cpu ? " — a software adapter, expect it to be slow" : ""}`);
        break;
      case "start":
        state.current = ev.name;
        say(`Running ${ev.name}…`);
        break;
      case "case":
        state.current = "";
        state.rows.push(ev);
        ev.ok ? state.passed++ : state.failed++;
        addRow(table, [ev.name, ev.ok ? "pass" : "FAIL", `${ev.ms} ms`, ev.error || ev.note || ""], ev.ok ? "pass" : "fail");
        break;
      case "bench": {
        state.rows.push(ev);
        if (ev.name === "fma_peak" && !ev.error) state.peak = ev.gflops;
        const ofPeak = state.peak && !ev.error ? `${((100 * ev.gflops) / state.peak).toFixed(1)}%` : "";
        addRow(table, [ev.name, ev.error ? "error" : ev.gflops.toFixed(3), ofPeak, ev.error || ""], ev.error ? "fail" : "");
        break;
      }
      case "forward": {
        state.rows.push(ev);
        const frac = (g) => (state.peak ? ` (${((100 * g) / state.peak).toFixed(1)}% of peak)` : "");
        const text = ev.error ? "error" :
          `prefill ${ev.prefill.toFixed(2)} tok/s${frac(ev.prefill_gflops)}, decode ${ev.decode.toFixed(2)} tok/s${frac(ev.decode_gflops)}`;
        addRow(table, [ev.name, text, "", ev.error || ""], ev.error ? "fail" : "");
        break;
      }
      case "train": {
        state.rows.push(ev);
        const frac = state.peak ? ` (${((100 * ev.train_gflops) / state.peak).toFixed(1)}% of peak)` : "";
        const text = ev.error ? "error" :
          `${ev.train_tokens_per_s.toFixed(2)} train tok/s${frac}, peak ${(ev.peak_gpu_bytes / 2 ** 20).toFixed(0)} MiB`;
        addRow(table, [ev.name, text, "", ev.error || ""], ev.error ? "fail" : "");
        break;
      }
      case "done":
        state.done = true;
        say(cmd === "tests"
          ? `${state.passed} passed, ${state.failed} failed on ${ev.adapter}`
          : `Done on ${ev.adapter}`, state.failed ? "fail" : "pass");
        break;
      case "error":
        state.error = state.current ? `${ev.message} (while running ${state.current})` : ev.message;
        state.done = true;
        say(state.error, "fail");
        break;
    }
  };
  worker.onerror = (e) => {
    state.error = `The engine failed to start: ${e.message || "unknown error"}`;
    state.done = true;
    say(state.error, "fail");
  };
  worker.postMessage({ cmd, filter: new URLSearchParams(location.search).get("run") || "" });
}

function addRow(table, cells, cls) {
  const tr = document.createElement("tr");
  if (cls) tr.className = cls;
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c;
    tr.appendChild(td);
  }
  table.appendChild(tr);
}
