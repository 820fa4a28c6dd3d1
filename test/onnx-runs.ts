import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {openSession, runBatch} from '../src/core/ort';
import type {ExportResult} from '../src/app/export';
import {readCheckpoint} from '../src/run/checkpoint';
import type {TrainResult} from '../src/train/trainer';
import {FIXTURES} from './helpers';
import {cbp, cbpJson, errorText} from './cli';

/**
 * What the importer's tests do with an imported model once its logits are checked: train it one epoch with --init on
 * the ONNX Runtime engine (after the TensorFlow.js engine refuses it by name), check that the parameters of the kind
 * under test learned, export it verified and evaluate the export; and ONNX Runtime's logits of a model in memory.
 */

/** ONNX Runtime's logits of `model` (bytes) on `x` of `dims`, in cbp's own session. */
export async function sessionLogits(model: Uint8Array, x: Float32Array, dims: readonly number[]): Promise<Float32Array> {
  const opened = await openSession(model, 'cpu', 'test');
  try {
    return (await runBatch(opened.session, x, dims)).data;
  } finally {
    await opened.session.release();
  }
}

/** A 4-class image folder (train/ and val/) of the fixture photographs, at `root`. */
export function imageFolder(root: string): string {
  const val = path.join(FIXTURES, 'imagenet', 'val');
  for (const split of ['train', 'val']) fs.cpSync(val, path.join(root, split), {recursive: true});
  return root;
}

export interface ImportedTraining {
  /** The checkpoint folder `cbp import` wrote. */
  readonly imported: string;
  /** The run's folder; the TensorFlow.js engine's refused run would go to `${out}-tfjs`. */
  readonly out: string;
  readonly quant: 'bin' | 'ter';
  /** The data flags of both runs (--data and its limits, --batch-size, --no-plot). */
  readonly data: readonly string[];
  /** What the TensorFlow.js engine's refusal says (it writes nothing); not tried where absent. */
  readonly tfjsRefusal?: RegExp;
  /** Parameters that must change in the epoch, keeping their shapes, every value finite. */
  readonly learns: readonly string[];
}

/** One epoch of an imported model on the ONNX Runtime engine, checked as ImportedTraining says. */
export function trainImported(t: ImportedTraining): TrainResult {
  if (t.tfjsRefusal !== undefined) {
    const never = `${t.out}-tfjs`;
    const refused = cbp(['train', '--init', t.imported, '--engine', 'tfjs', '--epochs', '1', '--out', never, ...t.data]);
    assert.notEqual(refused.status, 0);
    assert.match(errorText(refused.stderr), t.tfjsRefusal);
    assert.ok(!fs.existsSync(never), `${never} written`);
  }
  const r = cbpJson<TrainResult>(['train', '--init', t.imported, '--quant', t.quant, '--epochs', '1', '--engine', 'onnxruntime', '--out', t.out, ...t.data]);
  assert.equal(r.epochs.length, 1);
  assert.ok(Number.isFinite(r.epochs[0].loss) && r.epochs[0].loss > 0);
  const [before, after] = [readCheckpoint(t.imported).tensors, readCheckpoint(t.out).tensors];
  for (const key of t.learns) {
    const [a, b] = [before.get(key), after.get(key)];
    assert.ok(a !== undefined && b !== undefined, key);
    assert.deepEqual(b.shape, a.shape, key);
    assert.ok(b.data.every(Number.isFinite) && b.data.some((v, i) => v !== a.data[i]), `${key} did not train`);
  }
  return r;
}

/**
 * The run's export (`cbp export`, default weights) to `onnx`, verified within 1e-4 of the largest logit; where
 * `evaluate` gives eval's data flags, the file evaluates to the top-1 training printed.
 */
export function exportImported(run: string, onnx: string, evaluate?: {readonly data: readonly string[]; readonly top1: number}): ExportResult {
  const e = cbpJson<ExportResult>(['export', '--checkpoint', run, '--out', onnx]);
  assert.ok(e.maxDifference <= 1e-4 * Math.max(1, e.maxLogit), `${e.maxDifference} (largest logit ${e.maxLogit})`);
  if (evaluate !== undefined) {
    const evaluated = cbpJson<{top1: number}>(['eval', '--onnx', onnx, ...evaluate.data]);
    assert.equal(evaluated.top1, evaluate.top1);
  }
  return e;
}
