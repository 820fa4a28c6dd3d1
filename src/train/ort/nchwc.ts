import * as ort from 'onnxruntime-node';
import {nchwcCheckGraph, nchwcProbeGraph} from './train-graph';
import {Rng} from '../../core/rng';

/** The smallest block the training graph uses (AVX2's); a model whose convolutions fit no block of this size needs no probe. */
export const MIN_NCHWC_BLOCK = 8;

let known: Promise<number | undefined> | undefined;

/**
 * ONNX Runtime's NCHWc block size on this CPU (16 with AVX-512, 8 with AVX2), for the training graph's blocked
 * convolutions (src/train/ort/train-graph.ts) — or undefined where this build has no NCHWc kernels, the block is too small
 * to pay, or a 3×3 convolution written with it disagrees with the plain one (so a wrong filter layout can never
 * train silently). Measured once per process.
 */
export function nchwcBlockSize(): Promise<number | undefined> {
  known ??= probe();
  return known;
}

async function probe(): Promise<number | undefined> {
  try {
    const probeSession = await ort.InferenceSession.create(nchwcProbeGraph(), {executionProviders: ['cpu']});
    const out = await probeSession.run({x: new ort.Tensor('float32', new Float32Array(4), [1, 4, 1, 1])});
    const block = out.y.dims[1];
    await probeSession.release();
    if (!(block >= MIN_NCHWC_BLOCK) || block % 4 !== 0) return undefined;
    const check = await ort.InferenceSession.create(nchwcCheckGraph(block), {executionProviders: ['cpu']});
    const c = 2 * block;
    const rng = new Rng(11);
    const x = new ort.Tensor('float32', Float32Array.from({length: c * 25}, () => rng.normal()), [1, c, 5, 5]);
    const w = new ort.Tensor('float32', Float32Array.from({length: c * c * 9}, () => rng.normal()), [c, c, 3, 3]);
    const r = await check.run({x, w});
    await check.release();
    const [plain, blocked] = [r.plain.data, r.blocked.data];
    if (!(plain instanceof Float32Array) || !(blocked instanceof Float32Array)) return undefined;
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < plain.length; i++) {
      scale = Math.max(scale, Math.abs(plain[i]));
      diff = Math.max(diff, Math.abs(plain[i] - blocked[i]));
    }
    return diff <= 1e-5 * scale ? block : undefined;
  } catch {
    // No com.microsoft.nchwc kernels in this build (or on this CPU): plain convolutions.
    return undefined;
  }
}
