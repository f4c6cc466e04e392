#!/usr/bin/env node
// Parity of `vidlstm import-tfjs` on a real model: nsfwjs 4.4.0's MobileNetV2
// (scripts/get_npm_models.sh), tapped at TAP and averaged over height and
// width, through TensorFlow.js (pure-JS CPU backend) and through the converted
// ONNX file (our runner via `vidlstm infer`; ONNX Runtime too when
// onnxruntime-node is installed). Same pixels for both: TF.js gets them as the
// Keras MobileNetV2 preprocessing does (p / 127.5 - 1), the ONNX file,
// converted with --input-range -1,1, as vidlstm feeds every ONNX backbone
// (torchvision's ImageNet normalisation).
//
//   node tests/tfjs/nsfwjs_parity.js VIDLSTM MODEL_DIR WORK_DIR [TAP]
//
// Prints the max relative error of each against TF.js and exits 1 when one
// exceeds 1e-4 (relative to max(|ref|, 0.1 max|ref|) per element, tests/check.h).
'use strict';
const fs = require('fs'), path = require('path'), {execFileSync} = require('child_process');
const tf = require('@tensorflow/tfjs');

const [vidlstm, modelDir, work, tap = 'block_10_depthwise_relu'] = process.argv.slice(2);
if (!work) { console.error('usage: nsfwjs_parity.js VIDLSTM MODEL_DIR WORK_DIR [TAP]'); process.exit(2); }
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
  if (!hdr.includes("'<f4'")) throw new Error(file + ': not float32');
  const shape = hdr.match(/\(([^)]*)\)/)[1].split(',').filter(s => s.trim()).map(Number);
  const off = 10 + hl;
  return {shape, data: new Float32Array(b.buffer.slice(b.byteOffset + off, b.byteOffset + b.length))};
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

(async () => {
  await tf.setBackend('cpu');
  const N = 4, S = 224;
  // Deterministic pixels 0..255: smooth gradients and stripes, different per image.
  const pix = new Float32Array(N * S * S * 3);
  for (let n = 0, i = 0; n < N; n++)
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++)
        for (let c = 0; c < 3; c++, i++)
          pix[i] = Math.round(127.5 + 127.5 * Math.sin(0.05 * (n + 1) * x + 0.07 * y * (c + 1) + n) * Math.cos(0.03 * (x - y) + c));
  const mean = [0.485, 0.456, 0.406], sd = [0.229, 0.224, 0.225];
  const xk = pix.map(p => p / 127.5 - 1);
  const xi = pix.map((p, i) => (p / 255 - mean[i % 3]) / sd[i % 3]);
  npyWrite(path.join(work, 'x.npy'), [N, S, S, 3], xi);

  // TF.js: the model as the package ships it, tapped and pooled.
  const mj = JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8'));
  const specs = [], bufs = [];
  for (const g of mj.weightsManifest) {
    specs.push(...g.weights);
    for (const p of g.paths) bufs.push(fs.readFileSync(path.join(modelDir, p)));
  }
  const all = Buffer.concat(bufs);
  const model = await tf.loadLayersModel(tf.io.fromMemory({modelTopology: mj.modelTopology, weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.length)}));
  const sub = tf.model({inputs: model.inputs, outputs: model.getLayer(tap).output});
  let t0 = Date.now();
  const ref = sub.predict(tf.tensor(xk, [N, S, S, 3])).mean([1, 2]);
  const refData = ref.dataSync();
  console.log(`tfjs: ${tap} pooled ${ref.shape.join('x')} in ${Date.now() - t0} ms`);

  // Ours.
  const onnx = path.join(work, 'trunk.onnx');
  execFileSync(vidlstm, ['import-tfjs', modelDir, onnx, '--tap', tap, '--pool', '--input-range', '-1,1'], {stdio: 'inherit'});
  execFileSync(vidlstm, ['infer', onnx, '--input', path.join(work, 'x.npy'), '--out', path.join(work, 'y.npy')]);
  const ours = npyRead(path.join(work, 'y.npy'));
  if (ours.shape.join('x') !== ref.shape.join('x')) { console.error('shape', ours.shape, 'vs', ref.shape); process.exit(1); }
  const e = relErr(ours.data, refData);
  console.log(`vidlstm import-tfjs + infer vs tfjs: max relative error ${e.toExponential(2)} (${ours.shape.join('x')})`);
  let bad = !(e < 1e-4);

  let ort = null;
  try { ort = require('onnxruntime-node'); } catch (err) { console.log('onnxruntime-node not installed: ONNX Runtime check skipped'); }
  if (ort) {
    const sess = await ort.InferenceSession.create(onnx);
    const out = await sess.run({[sess.inputNames[0]]: new ort.Tensor('float32', xi, [N, S, S, 3])});
    const eo = relErr(out[sess.outputNames[0]].data, refData);
    console.log(`ONNX Runtime ${require('onnxruntime-node/package.json').version} on the converted file vs tfjs: max relative error ${eo.toExponential(2)}`);
    bad = bad || !(eo < 1e-4);
  }
  process.exit(bad ? 1 : 0);
})().catch(err => { console.error(err); process.exit(1); });
