import {after, test} from 'node:test';
import * as assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {ExportResult} from '../../src/app/export';
import type {ModelInfo} from '../../src/app/info';
import type {CardSource, Preprocessing} from '../../src/app/card';
import type {TrainResult} from '../../src/train/trainer';
import type {EvalResult} from '../../src/eval/evaluate';
import {initialWeights} from '../../src/train/init';
import {getModel} from '../../models/index';
import {metadataOf, readOnnx} from '../../onnx/reader';
import {writeOnnx} from '../../onnx/writer';
import {ModelProto} from '../../onnx/schema';
import {FIXTURES, tempDir} from '../helpers';
import {cbp, cbpJson, errorText} from '../cli';

const tmp = tempDir('cbp-card-');
after(() => fs.rmSync(tmp, {recursive: true, force: true}));
const run = path.join(tmp, 'lenet5-bin');
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

function card(file: string): {meta: Record<string, string>; doc: string; labels: unknown; pre: Preprocessing; source: CardSource} {
  const {model} = readOnnx(file);
  const meta = metadataOf(model);
  const json = (k: string): unknown => (meta[k] === undefined ? undefined : JSON.parse(meta[k]));
  return {meta, doc: model.doc_string ?? '', labels: json('cbp.labels'), pre: json('cbp.preprocessing') as Preprocessing, source: json('cbp.source') as CardSource};
}

test('every export variant of a trained model carries labels, preprocessing, its minimum runtime and the command that trained it', () => {
  cbpJson<TrainResult>(['train', '--model', 'lenet5', '--quant', 'bin', '--data', 'mnist', '--limit', '512', '--test-limit', '256', '--epochs', '1', '--batch-size', '64', '--out', run, '--no-plot']);
  const expected: Record<string, string> = {auto: '1.16', int2: '1.24', int8: '1.6', float: '1.6', portable: '1.6'};
  for (const [weights, runtime] of Object.entries(expected)) {
    const file = path.join(tmp, `bin-${weights}.onnx`);
    const r = cbpJson<ExportResult>(['export', '--checkpoint', run, '--out', file, '--weights', weights, '--backend', 'wasm']);
    assert.equal(r.card.minOnnxRuntime, runtime, weights);
    const c = card(file);
    assert.deepEqual(c.labels, DIGITS, weights);
    assert.equal(c.meta['cbp.min_onnxruntime'], runtime, weights);
    assert.equal(c.meta['cbp.weights'], weights);
    assert.equal(c.meta['cbp.card_version'], '1');
    assert.deepEqual(c.pre, {known: true, layout: 'NCHW', shape: [1, 28, 28], colour: 'grey', scale: 1 / 255, mean: [0.1307], std: [0.3081], resize: null, crop: null});
    assert.equal(c.source.kind, 'trained');
    if (c.source.kind !== 'trained') return;
    assert.match(c.source.command, /^cbp train --model lenet5 --quant bin --data mnist --epochs 1 --seed 1 --batch-size 64 .*--limit 512 --test-limit 256/);
    assert.equal(c.source.epochs, 1);
    // The top-1 came from 256 test images, not the 10,000 of the test set: the card says so.
    assert.equal(c.source.top1Images, 256);
    assert.equal(c.meta['cbp.top1_images'], '256');
    assert.match(c.doc, / on 256 test images after 1 epoch\)/);
    assert.equal(c.meta['cbp.data'], 'mnist');
    assert.equal(c.meta['cbp.epochs'], '1');
    // A person reading the file in Netron sees the same facts.
    assert.match(c.doc, new RegExp(`Needs ONNX Runtime ≥ ${runtime.replace('.', '\\.')}`));
    assert.match(c.doc, /x = \(pixel\/255 − mean\)\/std with mean 0\.1307 and std 0\.3081/);
    assert.match(c.doc, /logits for 0, 1, 2, 3, 4, … \(10 classes\)/);
  }
  const info = cbpJson<ModelInfo>(['info', path.join(tmp, 'bin-auto.onnx')]);
  assert.deepEqual(info.card.labels, DIGITS);
  assert.equal(info.card.minOnnxRuntime, '1.16');
  assert.equal(info.card.source?.kind, 'trained');
  assert.equal(info.card.preprocessing?.colour, 'grey');
  const text = cbp(['info', path.join(tmp, 'bin-auto.onnx')]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /labels +10: 0, 1, 2, 3, 4, …/);
  assert.match(text.stdout, /preprocessing float32 \[batch, 1, 28, 28\] NCHW, grey, images of 28×28, x = \(pixel·1\/255 − mean\)\/std, mean 0\.1307, std 0\.3081/);
  assert.match(text.stdout, /runtime +ONNX Runtime ≥ 1\.16 \(--weights auto\)/);
  assert.match(text.stdout, /source +trained by cbp [\d.]+: cbp train --model lenet5 --quant bin --data mnist/);
  // A checkpoint folder shows the card its export would carry.
  const ck = cbpJson<ModelInfo>(['info', run]);
  assert.deepEqual(ck.card.labels, DIGITS);
  assert.equal(ck.card.minOnnxRuntime, '1.16');
});

test('cbp eval warns when the data is not what the model card says the model was trained on: an MNIST model on Fashion-MNIST', () => {
  const file = path.join(tmp, 'bin-auto.onnx');
  const fashion = cbp(['eval', '--onnx', file, '--data', 'fashion-mnist', '--limit', '64', '--json']);
  assert.equal(fashion.status, 0, fashion.stderr);
  const warning = `${file} was trained on mnist (cbp.data); evaluating on fashion-mnist`;
  assert.deepEqual((JSON.parse(fashion.stdout) as EvalResult).warnings, [warning]);
  assert.equal(fashion.stderr.split('\n').filter((l) => l.startsWith('warning:')).join('\n'), `warning: ${warning}`, 'one line on stderr');
  const mnist = cbp(['eval', '--onnx', file, '--data', 'mnist', '--limit', '64', '--json']);
  assert.equal(mnist.status, 0, mnist.stderr);
  assert.equal((JSON.parse(mnist.stdout) as EvalResult).warnings, undefined);
  assert.doesNotMatch(mnist.stderr, /warning/);
});

test('--labels replaces the recorded class names, and a file with the wrong count is refused naming it', () => {
  const names = path.join(tmp, 'names.txt');
  fs.writeFileSync(names, 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n');
  const file = path.join(tmp, 'named.onnx');
  cbpJson<ExportResult>(['export', '--checkpoint', run, '--out', file, '--labels', names, '--backend', 'wasm']);
  assert.deepEqual(card(file).labels, ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']);
  const short = path.join(tmp, 'short.txt');
  fs.writeFileSync(short, 'a\nb\n');
  const bad = cbp(['export', '--checkpoint', run, '--out', path.join(tmp, 'never.onnx'), '--labels', short]);
  assert.equal(bad.status, 2);
  assert.match(errorText(bad.stderr), /--labels \S*short\.txt: 2 class names for a model with 10 outputs/);
  assert.ok(!fs.existsSync(path.join(tmp, 'never.onnx')));
  const gap = path.join(tmp, 'gap.txt');
  fs.writeFileSync(gap, 'a\n\nb\n');
  assert.match(errorText(cbp(['export', '--checkpoint', run, '--labels', gap]).stderr), /--labels \S*gap\.txt: line 2 is empty/);
});

test('an imported model records the file it came from and nothing it was not told: no data, statistics or epochs', () => {
  const pth = path.join(FIXTURES, 'torch', 'resnet18_cbp_zip.pth');
  const out = path.join(tmp, 'r18');
  const file = path.join(tmp, 'r18.onnx');
  cbpJson(['import', pth, '--model', 'resnet18', '--quant', 'ter', '--input-size', '32', '--out', out, '--onnx', file]);
  const c = card(file);
  for (const key of ['cbp.data', 'cbp.epochs', 'cbp.input_mean', 'cbp.input_std', 'cbp.labels', 'cbp.top1']) assert.equal(c.meta[key], undefined, key);
  assert.deepEqual(c.source, {kind: 'imported', file: 'resnet18_cbp_zip.pth', sha256: createHash('sha256').update(fs.readFileSync(pth)).digest('hex'), format: 'zip', data: null, cbpVersion: c.source.cbpVersion});
  assert.deepEqual(c.pre, {known: false, layout: 'NCHW', shape: [3, 32, 32], colour: null, scale: null, mean: null, std: null, resize: null, crop: null});
  assert.equal(c.meta['cbp.min_onnxruntime'], '1.24');
  assert.match(c.doc, /Imported from resnet18_cbp_zip\.pth \(sha256 [0-9a-f]{64}\), training data not recorded/);
  const text = cbp(['info', file]).stdout;
  assert.match(text, /labels +not recorded/);
  assert.match(text, /source +imported from resnet18_cbp_zip\.pth \(sha256 [0-9a-f]{16}…\); training data not recorded/);

  // Told the data and the names, it records them.
  const classes = fs.readdirSync(path.join(FIXTURES, 'imagenet', 'val')).sort();
  const names = path.join(tmp, 'r18-names.txt');
  const numClasses = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'torch', 'models.json'), 'utf8')).resnet18.logits.none[0].length as number;
  fs.writeFileSync(names, Array.from({length: numClasses}, (_, i) => `class ${i}`).join('\n'));
  const told = path.join(tmp, 'r18-told.onnx');
  cbpJson(['import', pth, '--model', 'resnet18', '--quant', 'ter', '--out', path.join(tmp, 'r18-told'), '--onnx', told, '--data', 'imagenet', '--labels', names]);
  const t = card(told);
  assert.equal(t.meta['cbp.data'], 'imagenet');
  assert.deepEqual(t.pre, {known: true, layout: 'NCHW', shape: [3, 224, 224], colour: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 256, crop: 224});
  assert.deepEqual(t.labels, Array.from({length: numClasses}, (_, i) => `class ${i}`));
  // An image folder's class folders are labels only when they are as many as the model's outputs.
  const folder = cbp(['import', pth, '--model', 'resnet18', '--quant', 'ter', '--out', path.join(tmp, 'r18-folder'), '--data', path.join(FIXTURES, 'imagenet', 'val')]);
  if (classes.length === numClasses) assert.equal(folder.status, 0, folder.stderr);
  else assert.match(errorText(folder.stderr), new RegExp(`--data \\S*val: ${classes.length} class names for a model with ${numClasses} outputs`));
});

test('files from before model cards stay readable: cbp info derives the oldest runtime from the opset and says what is missing', () => {
  const spec = getModel('lenet5', 10, [1, 28, 28]);
  const file = path.join(tmp, 'old.onnx');
  fs.writeFileSync(file, writeOnnx(spec, 'ter', initialWeights(spec, 'ter', 1), 'auto', {'cbp.constraint': 'ter', 'cbp.data': 'mnist', 'cbp.epochs': '3'}).bytes);
  const info = cbpJson<ModelInfo>(['info', file]);
  assert.equal(info.card.cardVersion, null);
  assert.equal(info.card.minOnnxRuntime, '1.24');
  assert.equal(info.card.labels, null);
  assert.equal(info.card.source, null);
  const text = cbp(['info', file]).stdout;
  assert.match(text, /preprocessing not recorded \(a file from before model cards\)/);
  assert.match(text, /runtime +ONNX Runtime ≥ 1\.24/);
});

test('when ONNX Runtime refuses a file for its opset, IR version or card, cbp says the runtime is too old and what loads instead', () => {
  const spec = getModel('lenet5', 10, [1, 28, 28]);
  const w = initialWeights(spec, 'ter', 1);
  // A file from a future cbp: an IR version this onnxruntime does not know.
  const future = writeOnnx(spec, 'ter', w, 'auto', {'cbp.min_onnxruntime': '1.24'});
  const irFile = path.join(tmp, 'ir99.onnx');
  fs.writeFileSync(irFile, withIrVersion(future.bytes, 99));
  const ir = cbp(['eval', '--onnx', irFile, '--data', 'mnist', '--limit', '10']);
  assert.equal(ir.status, 2);
  assert.match(errorText(ir.stderr), /ir99\.onnx: ONNX Runtime [\d.]+ cannot load the model, which uses an opset, IR version or type newer than this runtime knows .*IR version.*; the file says it needs ONNX Runtime ≥ 1\.24: upgrade onnxruntime, or export with --weights int8 .* or --weights portable/);
  // A card asking for a runtime newer than the installed one, on a file this runtime cannot load.
  const needs = writeOnnx(spec, 'ter', w, 'auto', {'cbp.min_onnxruntime': '99.0'});
  const newer = path.join(tmp, 'needs99.onnx');
  fs.writeFileSync(newer, withIrVersion(needs.bytes, 99));
  assert.match(errorText(cbp(['eval', '--onnx', newer, '--data', 'mnist', '--limit', '10']).stderr), /needs99\.onnx: ONNX Runtime [\d.]+ is too old for this file, which needs ≥ 99\.0 \(its cbp\.min_onnxruntime\)/);
});

/** The same model stamped with another IR version, as a newer writer would. */
function withIrVersion(bytes: Uint8Array, irVersion: number): Uint8Array {
  const model = ModelProto.toObject(ModelProto.decode(bytes), {longs: Number, bytes: Uint8Array, defaults: true, arrays: true});
  return ModelProto.encode(ModelProto.fromObject({...model, ir_version: irVersion})).finish();
}
