// bench.js measures TF.js (WebGPU backend) on webpeft's comparison
// workloads and leaves the result in window.tfjsBench:
//   {done, error, adapter, tfjs, rows: [{name, gflops, ms}]}
// Names match webpeft's: tfjs_matmul/MxKxN and tfjs_mlp_block_train/MxKxN.
// Timing follows webpeft's ops.Measure: one warm-up, then doubling batches
// of iterations, each batch queued without a readback and waited for once
// (submitQueue + onSubmittedWorkDone), until a batch takes at least
// MIN_MS; GFLOP/s = flops per iteration * iterations / time.
(function () {
  const MIN_MS = Number(new URLSearchParams(location.search).get("min_ms") || 1000);
  const state = { done: false, error: "", adapter: "", tfjs: "", rows: [], current: "", lastEventAt: Date.now() };
  window.tfjsBench = state;
  const status = document.getElementById("status");
  const say = (t) => { status.textContent = t; state.lastEventAt = Date.now(); };

  async function waitGPU() {
    const be = tf.backend();
    be.submitQueue();
    await be.device.queue.onSubmittedWorkDone();
  }

  // measure runs step (which queues one iteration and disposes what it
  // made) in doubling batches; it returns {gflops, ms} (ms per iteration).
  async function measure(name, flops, step) {
    state.current = name;
    say(`Running ${name}…`);
    step();
    await waitGPU();
    for (let iters = 1; ; iters *= 2) {
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) step();
      await waitGPU();
      const ms = performance.now() - t0;
      if (ms >= MIN_MS || iters >= 1 << 16) {
        const row = { name, gflops: (flops * iters) / (ms / 1000) / 1e9, ms: ms / iters };
        state.rows.push(row);
        say(`${name}: ${row.gflops.toFixed(3)} GFLOP/s`);
        return row;
      }
    }
  }

  // gelu is GELU in its tanh form, as webpeft's gelu_fwd.wgsl.
  const C = Math.sqrt(2 / Math.PI);
  const gelu = (h) => tf.mul(tf.mul(0.5, h), tf.add(1, tf.tanh(tf.mul(C, tf.add(h, tf.mul(0.044715, tf.mul(h, tf.mul(h, h))))))));

  async function main() {
    const ok = await tf.setBackend("webgpu");
    await tf.ready();
    if (!ok || tf.getBackend() !== "webgpu") throw new Error(`the webgpu backend did not start (backend: ${tf.getBackend()})`);
    // Small tensors would otherwise be computed on the CPU.
    tf.env().set("WEBGPU_CPU_FORWARD", false);
    state.tfjs = tf.version.tfjs;
    const adapter = await navigator.gpu.requestAdapter();
    const info = adapter && (adapter.info || (adapter.requestAdapterInfo && (await adapter.requestAdapterInfo())));
    state.adapter = info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ") : "";

    for (const [M, K, N] of [[1024, 1024, 1024], [256, 576, 1536]]) {
      const a = tf.randomUniform([M, K], -1, 1);
      const b = tf.randomUniform([K, N], -1, 1);
      await measure(`tfjs_matmul/${M}x${K}x${N}`, 2 * M * K * N, () => tf.matMul(a, b).dispose());
      a.dispose();
      b.dispose();
    }

    const [M, K, N] = [256, 576, 1536];
    const x = tf.randomUniform([M, K], -1, 1);
    const w1 = tf.variable(tf.randomUniform([K, N], -1 / Math.sqrt(K), 1 / Math.sqrt(K)));
    const w2 = tf.variable(tf.randomUniform([N, K], -1 / Math.sqrt(N), 1 / Math.sqrt(N)));
    const loss = () => {
      const y = tf.matMul(gelu(tf.matMul(x, w1)), w2);
      return tf.mean(tf.square(y));
    };
    // forward (2 products) + dW2, dG, dW1 (3 products): 10 M K N, as webpeft's ops.MLPBlockFlops.
    await measure(`tfjs_mlp_block_train/${M}x${K}x${N}`, 10 * M * K * N, () => {
      tf.tidy(() => { tf.variableGrads(loss, [w1, w2]); });
    });
    state.current = "";
    document.getElementById("tfjs-json").textContent = JSON.stringify(state, null, 2);
    say(`Done on ${state.adapter || "this adapter"} (TF.js ${state.tfjs})`);
  }

  main().catch((e) => {
    state.error = `${(e && e.message) || e}${state.current ? ` (while running ${state.current})` : ""}`;
    say(state.error);
  }).finally(() => { state.done = true; state.lastEventAt = Date.now(); });
})();
