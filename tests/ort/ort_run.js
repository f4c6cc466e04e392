#!/usr/bin/env node
// Runs an ONNX file written by `vidlstm export` in ONNX Runtime (CPU) on one padded batch:
//   node tests/ort/ort_run.js MODEL.onnx X.npy LENGTHS.npy OUT.npy
// X.npy: float32 [batch, time, D]; LENGTHS.npy: int32 [batch]; OUT.npy receives the graph's
// only output as float32 ("probabilities" or "values"). The independent reference for
// tests/test_export.c (fixtures: tests/fixtures/export/make_fixtures.sh).
// Exit status 3: onnxruntime-node is not installed (cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm install).
'use strict';
const fs = require('fs');

function readNpy(path) {
  const b = fs.readFileSync(path);
  if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(path + ': not a .npy file');
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const off = major === 1 ? 10 : 12;
  const h = b.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(h)[1];
  if (/'fortran_order':\s*True/.test(h)) throw new Error(path + ': Fortran order');
  const shape = /'shape':\s*\(([^)]*)\)/.exec(h)[1].split(',').filter((s) => s.trim()).map(Number);
  const data = b.subarray(off + hlen);
  const ab = data.buffer.slice(data.byteOffset, data.byteOffset + data.length);
  if (descr === '<f4') return { shape, data: new Float32Array(ab) };
  if (descr === '<i4') return { shape, data: new Int32Array(ab) };
  throw new Error(path + ': dtype ' + descr + ' (want <f4 or <i4)');
}

function writeNpy(path, shape, f32) {
  let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape.join(', ') + (shape.length === 1 ? ',' : '') + '), }';
  const total = 10 + h.length + 1;
  h += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(h.length, 8);
  fs.writeFileSync(path, Buffer.concat([head, Buffer.from(h, 'latin1'), Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength)]));
}

async function main() {
  const a = process.argv.slice(2);
  if (a.length !== 4) {
    process.stderr.write('usage: ort_run.js MODEL.onnx X.npy LENGTHS.npy OUT.npy\n');
    process.exit(2);
  }
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    process.stderr.write('ort_run.js: onnxruntime-node not installed (cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm install)\n');
    process.exit(3);
  }
  const x = readNpy(a[1]), len = readNpy(a[2]);
  const sess = await ort.InferenceSession.create(a[0], { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feeds = {
    features: new ort.Tensor('float32', x.data, x.shape),
    sequence_lens: new ort.Tensor('int32', len.data, len.shape),
  };
  const res = await sess.run(feeds);
  const y = res[sess.outputNames[0]];
  writeNpy(a[3], y.dims, y.data);
}

main().catch((e) => {
  process.stderr.write('ort_run.js: ' + (e && e.message ? e.message : e) + '\n');
  process.exit(1);
});
