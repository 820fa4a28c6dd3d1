import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import type {TrainResult} from '../../src/train/trainer';
import type {PlotResult} from '../../src/app/plot';
import {cbp, cbpJson, errorText} from '../cli';
import {tempDir} from '../helpers';

const tmp = tempDir('cbp-plot-');

/** Share of pixels that are not (near) white: a blank picture has none. */
async function inkShare(file: string): Promise<{width: number; height: number; ink: number}> {
  const {data, info} = await sharp(file).removeAlpha().raw().toBuffer({resolveWithObject: true});
  let ink = 0;
  for (let i = 0; i < data.length; i += 3) if (data[i] + data[i + 1] + data[i + 2] < 600) ink++;
  return {width: info.width, height: info.height, ink: ink / (info.width * info.height)};
}

test('cbp train draws curves.png and weights.png at the end; cbp plot redraws them elsewhere', async () => {
  const run = path.join(tmp, 'run');
  cbpJson<TrainResult>(['train', '--model', 'lenet5', '--quant', 'ter', '--data', 'mnist', '--limit', '512', '--batch-size', '64', '--epochs', '2', '--lr', '0.05', '--backend', 'wasm', '--out', run]);
  for (const f of ['curves.png', 'weights.png']) {
    const meta = await sharp(path.join(run, f)).metadata();
    assert.equal(meta.format, 'png', f);
  }
  const curves = await inkShare(path.join(run, 'curves.png'));
  assert.deepEqual([curves.width, curves.height], [1380, 680]);
  assert.ok(curves.ink > 0.02 && curves.ink < 0.9, `curves ink ${curves.ink}`);
  const weights = await inkShare(path.join(run, 'weights.png'));
  // Two constrained layers (conv2, fc1) side by side.
  assert.deepEqual([weights.width, weights.height], [920, 360]);
  assert.ok(weights.ink > 0.02, `weights ink ${weights.ink}`);

  const elsewhere = path.join(tmp, 'pictures');
  fs.mkdirSync(elsewhere);
  const r = cbpJson<PlotResult>(['plot', run, '--out', elsewhere]);
  assert.equal(r.curves, path.join(elsewhere, 'curves.png'));
  assert.ok(fs.existsSync(path.join(elsewhere, 'weights.png')));
  const bad = cbp(['plot', path.join(tmp, 'missing')]);
  assert.match(errorText(bad.stderr), /plot \S*missing: no such checkpoint folder/);
});
