/**
 * `node dist/bench/arch-step.js [MODEL ...] [harness flags]`: the binary CBP training step of each MODEL on cbp's
 * ONNX Runtime engine against the same step in PyTorch, through the fair harness (bench/fair.ts: the same allocator
 * for both, PyTorch's best of {1, 2 threads} × {contiguous, channels_last}, the quiet guard, ≥ 5 alternating
 * rounds). MODEL: lenet5 (batch 256, 28×28), resnet18, mobilenet_v2, resnet50, efficientnet_b0 (batch 32 at
 * 224×224), vit (the Fashion-MNIST study's ViT, bench/make_vit.py, batch 256 at 28×28), 10 classes; default all six.
 * Prints one JSON line and one table per model (bench/comparisons.ts says what each side runs). Exits 2 when a model
 * got no ratio (the machine was not quiet). Needs /usr/bin/python3 with torch (and torchvision for the three
 * torchvision models).
 *
 *   npm run build && node dist/bench/arch-step.js lenet5 [--rounds 5] [--calibration-rounds 2] [--huge-pages on|off|both]
 *     [--quiet-wait 180] [--max-discards 5] [--torch-config 2,channels_last] [--no-quiet-check]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {fairOptions, runComparisons} from './fair';
import {isStepModel, pythonHas, STEP_MODELS, stepComparison} from './comparisons';

const VALUED = new Set(['--rounds', '--calibration-rounds', '--huge-pages', '--quiet-wait', '--max-discards', '--torch-config', '--max-load', '--min-idle', '--cores-per-thread']);

async function main(): Promise<void> {
  const o = fairOptions();
  const args = process.argv.slice(2);
  const models = args.filter((a, i) => !a.startsWith('--') && !VALUED.has(args[i - 1] ?? ''));
  for (const m of models) if (!isStepModel(m)) throw new Error(`${m}: expected one of ${STEP_MODELS.join(', ')}`);
  const chosen = models.length > 0 ? models.filter(isStepModel) : [...STEP_MODELS];
  if (!pythonHas('torch')) throw new Error('/usr/bin/python3 cannot import torch (apt-get install python3-torch)');
  if (chosen.some((m) => m !== 'lenet5' && m !== 'resnet18' && m !== 'vit') && !pythonHas('torchvision')) throw new Error('/usr/bin/python3 cannot import torchvision (apt-get install python3-torchvision)');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-arch-'));
  try {
    const results = await runComparisons(chosen.map((m) => stepComparison(m, o, tmp)), o);
    if (results.some((r) => r.status === 'refused')) process.exitCode = 2;
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
