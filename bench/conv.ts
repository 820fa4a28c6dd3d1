/**
 * Forward-convolution throughput on one thread, for `npm run bench`: node dist/bench/conv.js [backend]. Prints
 * {name: GFLOP/s} for ResNet-18's and LeNet-5's convolution shapes; bench/torch_ref.py conv prints the same for
 * PyTorch with one thread. Their ratio is the per-core gap that no amount of threading on two cores can close.
 */
import {tf} from '../src/train/tfjs/tf';
import {selectBackend} from '../src/train/tfjs/backend';

export const CONV_SHAPES: [string, number, number, number, number, number][] = [
  // [name, batch, size, in, kernel, out]; 3×3 'same', 5×5 'valid'
  ['ResNet-18 layer1 3×3 64→64 @56', 16, 56, 64, 3, 64],
  ['ResNet-18 layer3 3×3 256→256 @14', 16, 14, 256, 3, 256],
  ['LeNet-5 conv2 5×5 20→50 @12', 128, 12, 20, 5, 50],
];

async function main(): Promise<void> {
  await selectBackend(process.argv[2] ?? 'wasm');
  const out: Record<string, number> = {};
  for (const [name, n, h, c, k, o] of CONV_SHAPES) {
    const x = tf.randomNormal<tf.Rank.R4>([n, h, h, c]);
    const w = tf.randomNormal<tf.Rank.R4>([k, k, c, o]);
    const pad = k === 3 ? 'same' : 'valid';
    tf.conv2d(x, w, 1, pad).dispose();
    const reps = 5;
    const t = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) {
      const y = tf.conv2d(x, w, 1, pad);
      y.dataSync();
      y.dispose();
    }
    const seconds = Number(process.hrtime.bigint() - t) / 1e9 / reps;
    const oh = k === 3 ? h : h - k + 1;
    out[name] = (2 * n * oh * oh * o * c * k * k) / seconds / 1e9;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e) + '\n');
  process.exit(1);
});
