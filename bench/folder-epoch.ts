/**
 * A whole `cbp train` ResNet-18 binary epoch on an image folder against a PyTorch script doing the same
 * (`bench/torch_ref.py folder-epoch`): both decode and augment the same photographs (random resized crop 224 and
 * flip; validation: resize 256, centre crop 224), take the same binary CBP steps at batch 32, test on val/ and write a
 * checkpoint. Each side is one whole process, timed from outside (start-up included), through the fair harness
 * (bench/fair.ts: the same allocator, PyTorch's best configuration, the quiet guard, ≥ 5 alternating rounds). The
 * folder: `--train N` (default 128; 32 with BENCH_QUICK=1) and `--val N` (default 64; 16) photographs of 500×375,
 * made from the test fixtures' photos, in 4 classes. cbp's first step comes from its CBP_STEP_TIMES line, PyTorch's
 * from its own report.
 *
 *   npm run build && node dist/bench/folder-epoch.js [--train 128] [--val 64] [harness flags] [--write]
 *
 * --write puts the table into docs/BENCHMARKS.md between its folder-epoch markers, and only a publishable one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {writeDocBlock} from './doc-block';
import {count} from './args';
import {fairOptions, ROOT, runComparisons, table} from './fair';
import {folderEpochComparison, pythonHas} from './comparisons';

async function main(): Promise<void> {
  const o = fairOptions();
  const nTrain = count('--train', o.quick ? 32 : 128);
  const nVal = count('--val', o.quick ? 16 : 64);
  if (!pythonHas('torchvision')) throw new Error('/usr/bin/python3 cannot import torch and torchvision (apt-get install python3-torchvision)');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-folder-epoch-'));
  try {
    const [r] = await runComparisons([folderEpochComparison(tmp, nTrain, nVal)], o);
    if (r.status === 'refused') process.exitCode = 2;
    if (process.argv.includes('--write')) {
      if (!r.publishable || r.status !== 'measured') throw new Error(`--write: not written, the result is not publishable (${r.reason ?? r.notes.join('; ')})`);
      writeDocBlock(path.join(ROOT, 'docs', 'BENCHMARKS.md'), 'folder-epoch', table(r));
    }
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
