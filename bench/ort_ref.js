#!/usr/bin/env node
// ONNX Runtime reference for bench_backbone: frames/s of the same .onnx file.
//   node bench/ort_ref.js MODEL.onnx [--batch 16] [--iters 10] [--warmup 2] [--size 224] [--threads 2]
// Needs onnxruntime-node in bench/node_modules (cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm install;
// the CPU library ships in the npm package, "skip" only avoids the CUDA download from nuget).
// Session: CPU execution provider, intraOpNumThreads=T, interOpNumThreads=1, sequential execution,
// graphOptimizationLevel 'all' (ORT folds BatchNormalization into Conv itself).
// ORT can only return graph outputs, so this runs the whole graph up to the logits; the one
// Gemm after the pooled feature (512x1000 or 1280x1000 per frame) is <0.1% of the work.
// Input is random (values don't change the work). Prints one JSON line; the reported time is the
// median wall time of session.run() over --iters runs after --warmup untimed ones.
'use strict';

const path = require('path');

function usage() {
  process.stderr.write('usage: ort_ref.js MODEL.onnx [--batch B] [--iters N] [--warmup W] [--size S] [--threads T] [--nhwc 1]\n');
  process.exit(2);
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.length < 1 || argv[0].startsWith('--')) usage();
  const model = argv[0];
  const opt = { batch: 16, iters: 10, warmup: 2, size: 224, threads: 2, nhwc: false };
  for (let i = 1; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in opt) || i + 1 >= argv.length) usage();
    opt[k] = parseInt(argv[++i], 10);
    if (!(opt[k] > 0)) usage();
  }

  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    process.stderr.write('ort_ref.js: onnxruntime-node not installed (cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm install)\n');
    process.exit(3);
  }
  const version = (ort.env.versions && ort.env.versions.node) ||
    require(path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'package.json')).version;

  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: opt.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  const n = opt.batch * 3 * opt.size * opt.size;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.random() - 0.5;
  const dims = opt.nhwc ? [opt.batch, opt.size, opt.size, 3] : [opt.batch, 3, opt.size, opt.size];
  const feeds = { [inName]: new ort.Tensor('float32', x, dims) };

  const t = [];
  let outShape = null;
  for (let i = -opt.warmup; i < opt.iters; i++) {
    const t0 = process.hrtime.bigint();
    const r = await session.run(feeds, [outName]);
    const dt = Number(process.hrtime.bigint() - t0) * 1e-9;
    outShape = r[outName].dims;
    if (i >= 0) t.push(dt);
  }
  t.sort((a, b) => a - b);
  const med = t[Math.floor(opt.iters / 2)]; // same median convention as bench_backbone.c
  console.log(JSON.stringify({
    impl: 'onnxruntime', version, model, batch: opt.batch, size: opt.size, threads: opt.threads,
    output: `${outName} [${outShape.join(',')}]`, graph: 'full (logits)',
    median_ms: +(med * 1e3).toFixed(2), frames_per_s: +(opt.batch / med).toFixed(1), min_ms: +(t[0] * 1e3).toFixed(2),
  }));
  if (session.release) await session.release();
}

main().catch((e) => {
  process.stderr.write(`ort_ref.js: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
