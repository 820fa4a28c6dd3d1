/**
 * `node dist/bench/lenet-epoch.js [harness flags]`: a whole `cbp train` LeNet-5 binary epoch (12,800 MNIST images,
 * batch 256, the test pass, the checkpoint) against `bench/torch_ref.py epoch` doing the same, each side one
 * process timed from outside, through the fair harness (bench/fair.ts; its flags as for bench/arch-step.ts).
 */
import {fairOptions, runComparisons} from './fair';
import {lenetEpochComparison, pythonHas} from './comparisons';

async function main(): Promise<void> {
  const o = fairOptions();
  if (!pythonHas('torch')) throw new Error('/usr/bin/python3 cannot import torch (apt-get install python3-torch)');
  const results = await runComparisons([lenetEpochComparison()], o);
  if (results.some((r) => r.status === 'refused')) process.exitCode = 2;
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
