import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import {CbpError} from '../../src/core/errors';
import {Rng} from '../../src/core/rng';
import {exportCheckpoint, type ExportResult} from '../../src/app/export';
import {importOnnx} from '../../src/app/import-onnx';
import {GraphBuilder, valueInfo} from '../../onnx/graph-builder';
import {DataType} from '../../onnx/schema';
import {readCheckpoint} from '../../src/run/checkpoint';
import {COORDINATES, NEAREST_MODES, RESIZE_MODES, resizeMatrix, type ResizeNode} from '../../models/kinds/resize';
import {FIXTURES, tempDir} from '../helpers';
import {cbpJson} from '../cli';
import {floatTensor, handMadeClassifier, intAttr, stringAttr} from '../onnx-graphs';
import {exportImported, sessionLogits, trainImported} from '../onnx-runs';

/**
 * F.interpolate and nn.Upsample as torch.onnx.export writes them (ONNX Resize; test/fixtures/onnx/resize_unet.onnx
 * from make_onnx_fixtures.py): imported with the file's logits, trained with --init, exported and verified; the
 * matrices the backward pass is built from against ONNX Runtime's own Resize in every mode cbp maps; what is refused.
 * The gradients themselves are checked against PyTorch autograd in kind-grads.test.ts and one whole CBP step in
 * onnx-step.test.ts (steps/resize).
 */

const tmp = tempDir('cbp-onnx-resize-');
const unet = path.join(FIXTURES, 'onnx', 'resize_unet.onnx');

test('cbp import resize_unet.onnx: three Resizes (nearest by scales, bilinear by a Shape chain, bilinear align_corners by a recomputed scale) as resize nodes; the float export gives the file\'s logits', async () => {
  const out = path.join(tmp, 'unet');
  const r = await importOnnx({file: unet, out});
  assert.deepEqual(r.warnings, []);
  const nodes = readCheckpoint(out).state.config.spec?.nodes ?? [];
  const resizes = nodes.filter((n): n is ResizeNode => n.kind === 'resize').map((n) => [n.name, n.size.join('×'), n.mode, n.coordinates, n.scaleH ?? null]);
  assert.deepEqual(resizes, [
    ['up', '14×14', 'nearest', 'asymmetric', 2],
    ['/Resize', '28×28', 'linear', 'half_pixel', null],
    ['/Resize_1', '42×42', 'linear', 'align_corners', null],
  ]);
  const onnx = path.join(tmp, 'unet_float.onnx');
  await exportCheckpoint({checkpoint: out, format: 'onnx', weights: 'float', out: onnx, verifyWith: 'float-onnx'});
  const n = 3;
  const rng = new Rng(99);
  const x = Float32Array.from({length: n * 28 * 28}, () => 2 * rng.normal());
  const expected = await sessionLogits(fs.readFileSync(unet), x, [n, 1, 28, 28]);
  const got = await sessionLogits(fs.readFileSync(onnx), x, [n, 1, 28, 28]);
  let diff = 0;
  let largest = 0;
  for (let i = 0; i < got.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - expected[i]));
    largest = Math.max(largest, Math.abs(expected[i]));
  }
  assert.equal(got.length, n * 10);
  assert.ok(largest > 0.01, `largest logit ${largest}`);
  assert.ok(diff <= 1e-4 * largest, `logits differ by ${diff} (largest ${largest})`);
});

test('an imported U-Net with Resize trains one epoch with --init on MNIST (binary) and its export verifies, with 8-bit activations too; the TensorFlow.js engine refuses it, naming resize', () => {
  const imported = path.join(tmp, 'unet-import');
  cbpJson(['import', unet, '--out', imported]);
  const common = ['--data', 'mnist', '--limit', '256', '--test-limit', '200', '--batch-size', '64', '--no-plot'];
  const out = path.join(tmp, 'unet-bin');
  trainImported({
    imported, out, quant: 'bin', data: common,
    tfjsRefusal: /the TensorFlow\.js engine has no resize, concat \(layers up, \/Concat, \/Resize, \/Resize_1\)/,
    // The convolution before the first bilinear resize learned: its gradient came back through the resizes.
    learns: ['enc1.0.0.weight'],
  });
  exportImported(out, path.join(tmp, 'unet-bin.onnx'));
  // With 8-bit activations: the Resize's output size (Shape, Slice, Concat of integers) is no activation to quantize.
  const i8 = cbpJson<ExportResult>(['export', '--checkpoint', out, '--out', path.join(tmp, 'unet-bin-int8.onnx'), '--activations', 'int8']);
  const c = i8.int8?.check;
  assert.ok(c !== undefined && c.floatTop1 !== null && c.int8Top1 !== null && c.agreement >= 0.9, JSON.stringify(c));
});

/** ONNX Runtime's Resize of x [1, 1, h, w] to [oh, ow] (by sizes, or by `scale` on both axes), at opset 13. */
async function ortResize(x: Float32Array, [h, w]: readonly [number, number], [oh, ow]: readonly [number, number], attrs: Record<string, string>, scale?: number): Promise<Float32Array> {
  const b = new GraphBuilder();
  const inputs = scale === undefined ? ['x', '', '', b.i64([1, 1, oh, ow])] : ['x', '', b.f32Vector([1, 1, scale, scale])];
  b.op('Resize', inputs, attrs, 'y');
  const model = b.model('resize', [valueInfo('x', DataType.FLOAT, [1, 1, h, w])], [valueInfo('y', DataType.FLOAT, [1, 1, oh, ow])], 13, 7);
  const session = await ort.InferenceSession.create(model, {logSeverityLevel: 3});
  try {
    const y = (await session.run({x: new ort.Tensor('float32', x, [1, 1, h, w])})).y;
    assert.ok(y.data instanceof Float32Array);
    assert.deepEqual(y.dims, [1, 1, oh, ow]);
    return y.data;
  } finally {
    await session.release();
  }
}

test('the resize matrices (A_h · x · A_wᵀ, what the backward pass transposes) give ONNX Runtime\'s Resize in every mode, coordinate transformation and nearest_mode cbp maps', async () => {
  const rng = new Rng(5);
  let checked = 0;
  // Up, down, by a non-integer ratio, to one row, by scales (2, 1.5, 0.6) and by sizes.
  const shapes: [readonly [number, number], readonly [number, number], number?][] = [[[4, 5], [8, 10], 2], [[6, 5], [9, 7]], [[7, 9], [3, 4]], [[5, 6], [1, 11]], [[6, 6], [9, 9], 1.5], [[10, 10], [6, 6], 0.6]];
  for (const [[h, w], [oh, ow], scale] of shapes) {
    const x = Float32Array.from({length: h * w}, () => rng.normal());
    for (const mode of RESIZE_MODES) {
      for (const coordinates of COORDINATES) {
        for (const nearest of mode === 'nearest' ? NEAREST_MODES : (['floor'] as const)) {
          const what = `${h}×${w} → ${oh}×${ow}${scale === undefined ? '' : ` (scale ${scale})`} ${mode} ${coordinates} ${mode === 'nearest' ? nearest : ''}`;
          const expected = await ortResize(x, [h, w], [oh, ow], {mode, coordinate_transformation_mode: coordinates, nearest_mode: nearest}, scale);
          const ah = resizeMatrix(h, oh, mode, coordinates, nearest, scale);
          const aw = resizeMatrix(w, ow, mode, coordinates, nearest, scale);
          for (let i = 0; i < oh; i++) {
            for (let j = 0; j < ow; j++) {
              let y = 0;
              for (let p = 0; p < h; p++) for (let q = 0; q < w; q++) y += ah[i * h + p] * x[p * w + q] * aw[j * w + q];
              assert.ok(Math.abs(y - expected[i * ow + j]) <= 1e-5 * (1 + Math.abs(y)), `${what}: y[${i}, ${j}] ${y}, ONNX Runtime ${expected[i * ow + j]}`);
            }
          }
          // Every row weighs the input by 1 in all (nearest: one position; linear: two, or one at the edge).
          for (let i = 0; i < oh; i++) assert.ok(Math.abs(ah.slice(i * h, (i + 1) * h).reduce((s, v) => s + v, 0) - 1) < 1e-6, `${what}: row ${i}`);
          checked++;
        }
      }
    }
  }
  assert.equal(checked, shapes.length * 4 * 5);
});

/** A 1×4×4 classifier with one Resize of the conv's output `c` to `a` (inputs after x), then pooling and a Gemm. */
function withResize(name: string, inputs: string[], attrs: Record<string, string | number>, consts: object[]): string {
  const attribute = Object.entries(attrs).map(([k, v]) => (typeof v === 'number' ? intAttr(k, v) : stringAttr(k, v)));
  const body = [{name: '/up/Resize', op_type: 'Resize', input: ['c', ...inputs], output: ['a'], attribute}];
  return handMadeClassifier(tmp, name, body, consts, {channels: 2, convBias: false, seed: 11, opset: name.includes('opset18') ? 18 : 13});
}

test('Resizes cbp does not map are refused naming what: bicubic, antialias, tf_crop_and_resize, a roi, scaling the channels, a size computed from values', async () => {
  const scales = (v: number[]): object => floatTensor('scales', [4], v);
  const roi = floatTensor('roi', [8], [0, 0, 0, 0, 1, 1, 1, 1]);
  const x2 = scales([1, 1, 2, 2]);
  const cases: [string, string[], Record<string, string | number>, object[], RegExp][] = [
    ['bicubic', ['', 'scales'], {mode: 'cubic'}, [x2], /Resize with mode cubic \(F\.interpolate's bicubic; cbp maps nearest and bilinear\) \(1 node: \/up\/Resize\)/],
    ['antialias_opset18', ['', 'scales'], {mode: 'linear', antialias: 1}, [x2], /Resize with antialias \(F\.interpolate's antialias=True\)/],
    ['crop', ['roi', 'scales'], {mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize'}, [x2, roi], /Resize with coordinate_transformation_mode tf_crop_and_resize/],
    ['roi', ['roi', 'scales'], {mode: 'linear'}, [x2, roi], /Resize with a region of interest \(roi\)/],
    ['channels', ['', 'scales'], {mode: 'nearest'}, [scales([1, 2, 2, 2])], /Resize that scales the batch or the channels \(scales \[1, 2, 2, 2\]\)/],
    ['computed', ['', 'c'], {mode: 'nearest'}, [], /Resize to a size computed from the input's values/],
  ];
  for (const [name, inputs, attrs, consts, re] of cases) {
    const out = path.join(tmp, `refused-${name}`);
    await assert.rejects(importOnnx({file: withResize(name, inputs, attrs, consts), out}), (err: unknown) => {
      assert.ok(err instanceof CbpError && err.code === 'UNSUPPORTED_ONNX', `${name}: ${String(err)}`);
      assert.match(err.message, re, name);
      return true;
    });
    assert.ok(!fs.existsSync(out), name);
  }
  // The same file with a Resize cbp maps imports, so each refusal above is the attribute's or the input's.
  const good = await importOnnx({file: withResize('good', ['', 'scales'], {mode: 'linear'}, [x2]), out: path.join(tmp, 'good')});
  assert.ok(good.maxDifference <= 1e-5 * Math.max(1, good.maxLogit), `${good.maxDifference}`);
});
