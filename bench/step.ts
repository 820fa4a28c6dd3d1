/**
 * One CBP training-step measurement in its own process (so its peak memory is its own):
 * node dist/bench/step.js lenet5|resnet18|resnet20 [backend] [threads] [base] (resnet20: batch 128 on 1×28×28; base:
 * the stem width, the model's own when omitted). Prints {msPerStep, peakRssMB, backend, threads}; threads
 * default to what `cbp train` uses (defaultWorkers).
 */
import {tf} from '../src/core/tf';
import {selectBackend} from '../src/core/backend';
import {Network} from '../src/train/network';
import {initialWeights} from '../src/train/init';
import {cbpStep, createTrainState} from '../src/train/step';
import {defaultWorkers, ShardPool} from '../src/train/shards';
import {Rng} from '../src/core/rng';
import {getModel} from '../models/index';

async function main(): Promise<void> {
  const which = process.argv[2] === 'resnet18' || process.argv[2] === 'resnet20' ? process.argv[2] : 'lenet5';
  const backend = await selectBackend(process.argv[3] ?? 'auto');
  const [batch, shape, steps] =
    which === 'lenet5' ? [256, [1, 28, 28] as const, 10] : which === 'resnet20' ? [128, [1, 28, 28] as const, 3] : [32, [3, 224, 224] as const, 3];
  const spec = getModel(which, 10, shape, process.argv[5] !== undefined ? Number(process.argv[5]) : undefined);
  const net = new Network(spec, 'bin', initialWeights(spec, 'bin', 1));
  const st = createTrainState(net, 1e-4, 10);
  for (const l of st.lambdas.values()) l.lambda.assign(tf.add(l.lambda, 1e-4));
  const threads = process.argv[4] !== undefined ? Number(process.argv[4]) : defaultWorkers(backend.name, batch);
  const pool = threads > 1 ? await ShardPool.create(threads, net, backend.name, 10) : undefined;
  const rng = new Rng(3);
  const x = Float32Array.from({length: batch * shape[0] * shape[1] * shape[2]}, () => rng.normal());
  const y = Int32Array.from({length: batch}, () => Math.floor(rng.next() * 10));
  const times: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const t = process.hrtime.bigint();
    await cbpStep(st, x, y, batch, shape, 0, 1e-3, pool);
    if (i > 0) times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await pool?.close();
  times.sort((a, b) => a - b);
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({msPerStep: times[Math.floor(times.length / 2)], peakRssMB, backend: backend.name, threads}) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e) + '\n');
  process.exit(1);
});
