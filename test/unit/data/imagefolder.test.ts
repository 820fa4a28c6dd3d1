import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {decodeRgb, loadBatches, normaliseInto, parseShard, randomResizedCrop, resizeShorter, scanImageFolder, selectSamples} from '../../../src/data/imagefolder';
import {Rng} from '../../../src/core/rng';
import {FIXTURES, tempDir} from '../../helpers';

const VAL = path.join(FIXTURES, 'imagenet', 'val');
// torchvision's Resize(256) + CenterCrop(224) + Normalize of each photo, sampled on a 16×16 grid (PIL decoding).
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'imagenet', 'expected.json'), 'utf8')) as Record<string, {label: number; grid: number[][][]; mean: number[]}>;

test('classes are the sorted folder names and labels follow them, as torchvision ImageFolder', () => {
  const f = scanImageFolder(VAL);
  assert.deepEqual(f.classes, ['n02123045', 'n03063599', 'n03790512', 'n04069434']);
  assert.equal(f.samples.length, 9);
  for (const s of f.samples) {
    const key = path.relative(VAL, s.file).split(path.sep).join('/');
    if (key in expected) assert.equal(s.label, expected[key].label, key);
  }
  assert.deepEqual(f.samples.map((s) => s.label), [0, 0, 1, 1, 1, 2, 2, 3, 3]);
});

for (const key of Object.keys(expected)) {
  test(`evaluation transform of ${key} matches torchvision's (resize 256, centre crop 224, normalise)`, async () => {
    const rgb = await decodeRgb(path.join(VAL, key), {kind: 'eval', resize: 256, crop: 224});
    const x = new Float32Array(3 * 224 * 224);
    normaliseInto(rgb, x, 0, 224, 'NCHW');
    const want = expected[key];
    let diff = 0;
    for (let c = 0; c < 3; c++) for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) diff += Math.abs(x[c * 224 * 224 + (7 + 14 * i) * 224 + 7 + 14 * j] - want.grid[c][i][j]);
    // libvips and PIL resample differently at the pixel level (mean 0.06–0.12 in normalised units, ~4–7 of 255);
    // CMYK JPEGs differ more because libvips applies a colour profile where PIL inverts channels.
    const cmyk = key.includes('cmyk');
    assert.ok(diff / 768 < (cmyk ? 0.25 : 0.15), `mean |difference| ${diff / 768}`);
    for (let c = 0; c < 3; c++) {
      let m = 0;
      for (let p = 0; p < 224 * 224; p++) m += x[c * 224 * 224 + p];
      assert.ok(Math.abs(m / (224 * 224) - want.mean[c]) < (cmyk ? 0.2 : 0.01), `channel ${c} mean ${m / (224 * 224)} vs ${want.mean[c]}`);
    }
  });
}

test('greyscale, CMYK and alpha images come out as 224×224 RGB', async () => {
  for (const f of ['n03063599/coffee_gray.JPEG', 'n02123045/chelsea_cmyk.JPEG', 'n03790512/astronaut_alpha.JPEG', 'n04069434/camera.JPEG']) {
    const rgb = await decodeRgb(path.join(VAL, f), {kind: 'train', crop: 224, rng: new Rng(1)});
    assert.equal(rgb.length, 224 * 224 * 3, f);
  }
  // A greyscale photo has equal channels.
  const g = await decodeRgb(path.join(VAL, 'n04069434/camera.JPEG'), {kind: 'eval', resize: 256, crop: 224});
  for (let p = 0; p < g.length; p += 3 * 997) assert.ok(g[p] === g[p + 1] && g[p + 1] === g[p + 2]);
});

test('a corrupt file is skipped with its name and counted; the others arrive', async () => {
  const skipped: string[] = [];
  const f = scanImageFolder(VAL);
  let count = 0;
  for await (const b of loadBatches(f.samples, {transform: () => ({kind: 'eval', resize: 256, crop: 224}), batchSize: 4, layout: 'NCHW', size: 224, concurrency: 3, prefetch: 1, onSkip: (file) => skipped.push(file)})) {
    assert.equal(b.x.length, b.count * 3 * 224 * 224);
    count += b.count;
  }
  assert.equal(count, 8);
  assert.deepEqual(skipped.map((s) => path.basename(s)), ['coffee_truncated.JPEG']);
});

test('empty folders and folders without class sub-folders are clear errors', () => {
  const tmp = tempDir('cbp-folder-');
  assert.throws(() => scanImageFolder(tmp), /--data .*: no class sub-folders \(expected .*\/<class>\/<image>/);
  fs.mkdirSync(path.join(tmp, 'n0001'));
  fs.writeFileSync(path.join(tmp, 'n0001', 'notes.txt'), 'not an image');
  assert.throws(() => scanImageFolder(tmp), /1 class folders but no images in them/);
  assert.throws(() => scanImageFolder(path.join(tmp, 'missing')), /--data .*missing: cannot read the folder \(ENOENT\)/);
});

test('shards cover every sample exactly once; --limit spreads over the classes; bad shards are refused', () => {
  const samples = Array.from({length: 10}, (_, i) => ({file: `f${i}`, label: Math.floor(i / 5)}));
  const parts = [1, 2, 3].map((k) => selectSamples(samples, undefined, {index: k, count: 3}).map((s) => s.file));
  assert.deepEqual(parts.flat().sort(), samples.map((s) => s.file).sort());
  assert.deepEqual(selectSamples(samples, 2).map((s) => s.label), [0, 1]);
  assert.throws(() => parseShard('3/2'), /--shard 3\/2: expected K\/N with 1 ≤ K ≤ N/);
  assert.throws(() => parseShard('0/2'), /--shard 0\/2/);
});

test('Resize(256) sizes and RandomResizedCrop boxes follow torchvision', () => {
  assert.deepEqual(resizeShorter(500, 375, 256), [341, 256]);
  assert.deepEqual(resizeShorter(375, 500, 256), [256, 341]);
  const rng = new Rng(5);
  for (let i = 0; i < 200; i++) {
    const b = randomResizedCrop(500, 375, rng);
    assert.ok(b.left >= 0 && b.top >= 0 && b.left + b.width <= 500 && b.top + b.height <= 375);
    const area = (b.width * b.height) / (500 * 375);
    assert.ok(area >= 0.07 && area <= 1.0001, `area ${area}`);
  }
});
