import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {EvalResult} from '../../src/eval/evaluate';
import type {TrainResult} from '../../src/train/trainer';
import type {ModelInfo} from '../../src/app/info';
import {FIXTURES, tempDir} from '../helpers';
import {cbp, cbpJson, errorText} from '../cli';
import {readPth, stateDict} from '../../src/torch/load';
import {modelWeights, readCheckpoint} from '../../src/run/checkpoint';

const VAL = path.join(FIXTURES, 'imagenet', 'val');
const tmp = tempDir('cbp-imagenet-');

test('cbp eval --model resnet18 --quant bin imports the pre-quantized .pth once, then evaluates the folder in ONNX Runtime', () => {
  const modelDir = path.join(tmp, 'model');
  fs.mkdirSync(modelDir);
  fs.copyFileSync(path.join(FIXTURES, 'torch', 'resnet18_cbp_zip.pth'), path.join(modelDir, 'resnet18_bin_prequantized.pth'));
  const first = cbp(['eval', '--model', 'resnet18', '--quant', 'bin', '--model-dir', modelDir, '--data', VAL, '--json']);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /importing .*resnet18_bin_prequantized\.pth/);
  assert.match(first.stderr, /skipped .*coffee_truncated\.JPEG/);
  const r = JSON.parse(first.stdout) as EvalResult;
  assert.equal(r.images, 8);
  assert.equal(r.skipped, 1);
  assert.ok(fs.existsSync(path.join(modelDir, 'resnet18_bin.onnx')));
  // The published checkpoints are the reference's ImageNet models: their card says so, and names the file.
  const card = cbpJson<ModelInfo>(['info', path.join(modelDir, 'resnet18_bin.onnx')]).card;
  assert.deepEqual([card.source?.kind, card.source?.kind === 'imported' ? card.source.file : '', card.source?.data], ['imported', 'resnet18_bin_prequantized.pth', 'imagenet']);
  assert.deepEqual(card.preprocessing?.mean, [0.485, 0.456, 0.406]);
  const again = cbp(['eval', '--model', 'resnet18', '--quant', 'bin', '--model-dir', modelDir, '--data', VAL, '--json']);
  assert.doesNotMatch(again.stderr, /importing/);
  assert.deepEqual({...(JSON.parse(again.stdout) as EvalResult), imagesPerSecond: 0}, {...r, imagesPerSecond: 0});

  // Two shards merged give the same counts as one run.
  const parts = ['1/2', '2/2'].map((s, i) => {
    const out = cbp(['eval', '--onnx', path.join(modelDir, 'resnet18_bin.onnx'), '--data', VAL, '--shard', s, '--json']);
    const file = path.join(tmp, `part${i}.json`);
    fs.writeFileSync(file, out.stdout);
    return file;
  });
  const merged = cbpJson<EvalResult>(['eval', '--merge', ...parts]);
  assert.equal(merged.images, r.images);
  assert.equal(merged.top1Hits, r.top1Hits);
  assert.equal(merged.top5Hits, r.top5Hits);
});

test('cbp eval --model without the checkpoint says which files it looked for', () => {
  const r = cbp(['eval', '--model', 'alexnet', '--quant', 'ter', '--model-dir', path.join(tmp, 'nothing'), '--data', VAL]);
  assert.equal(r.status, 2);
  assert.match(errorText(r.stderr), /--model alexnet --quant ter: neither \S*alexnet_ter\.onnx nor \S*alexnet_ter_prequantized\.pth exists/);
});

test('cbp train runs ResNet-18 CBP end to end on an ImageNet-style folder', () => {
  const data = path.join(tmp, 'imagenet');
  fs.cpSync(VAL, path.join(data, 'train'), {recursive: true});
  fs.cpSync(VAL, path.join(data, 'val'), {recursive: true});
  const r = cbpJson<TrainResult>(['train', '--model', 'resnet18', '--quant', 'bin', '--data', data, '--epochs', '1', '--batch-size', '4', '--limit', '4', '--test-limit', '4', '--backend', 'wasm', '--out', path.join(tmp, 'run')]);
  assert.equal(r.epochs.length, 1);
  assert.equal(r.histograms.length, 19);
  assert.ok(r.histograms.every((h) => h.offLevel === 0));
  // The card its export carries: the class folders as labels, cbp's folder preprocessing, the training command.
  const info = cbpJson<ModelInfo>(['info', path.join(tmp, 'run')]);
  assert.deepEqual(info.card.labels, fs.readdirSync(VAL).sort());
  assert.deepEqual([info.card.preprocessing?.colour, info.card.preprocessing?.resize, info.card.preprocessing?.crop], ['RGB', 256, 224]);
  assert.equal(info.card.source?.kind, 'trained');
  const bad = cbp(['train', '--model', 'resnet18', '--data', VAL, '--limit', '4']);
  assert.match(errorText(bad.stderr), /--data \S+: expected \S+\/train and \S+\/val with one sub-folder per class/);
});

test('cbp train --init takes a PyTorch .pth directly (the published-checkpoint route), with its width; scales reset to mean |w| as the reference does', () => {
  // Ten classes, as the fixture checkpoint's fc layer has.
  const data = path.join(tmp, 'ten');
  const photos = fs.readdirSync(VAL, {recursive: true, encoding: 'utf8'}).filter((f) => f.endsWith('.JPEG') && !f.includes('truncated'));
  for (const split of ['train', 'val']) {
    for (let c = 0; c < 10; c++) {
      const dir = path.join(data, split, `n0000${c}`);
      fs.mkdirSync(dir, {recursive: true});
      fs.copyFileSync(path.join(VAL, photos[c % photos.length]), path.join(dir, 'a.JPEG'));
    }
  }
  const pth = path.join(FIXTURES, 'torch', 'resnet18_cbp_zip.pth');
  const r = cbpJson<TrainResult>(['train', '--model', 'resnet18', '--quant', 'bin', '--init', pth, '--data', data, '--epochs', '1', '--batch-size', '5', '--backend', 'wasm', '--no-plot', '--out', path.join(tmp, 'from-pth')]);
  assert.equal(r.epochs.length, 1);
  // The fixture's narrow width (stem of 4 channels) is kept, and its 19 constrained layers train.
  assert.equal(r.histograms.length, 19);
  assert.equal(r.histograms[0].counts.reduce((a, b) => a + b, 0), 4 * 4 * 9);
  // Scales are fixed during training: each equals mean |w| of the .pth's weights, not the scale stored in the file.
  const given = stateDict(readPth(pth));
  const stored = modelWeights(readCheckpoint(path.join(tmp, 'from-pth')).tensors);
  for (const h of r.histograms) {
    const w = given.get(`${h.layer}.weight`)?.data ?? new Float32Array(0);
    const mean = w.reduce((a, v) => a + Math.abs(v), 0) / w.length;
    assert.ok(Math.abs((stored.get(`${h.layer}.scale`)?.data[0] ?? NaN) - mean) <= 1e-6 * mean, `${h.layer}: scale is mean |w|`);
  }
});
