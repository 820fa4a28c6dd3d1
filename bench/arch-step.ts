/**
 * `node dist/bench/arch-step.js [rounds] [model ...]`: the CBP step of torchvision's MobileNetV2 and ResNet-50
 * (10 classes, batch 32 at 224×224, binary weights on every convolution and linear layer but the first and the last)
 * on cbp's ONNX Runtime engine, the model read by `cbp import` from PyTorch's own export, against the same step in
 * PyTorch (bench/torch_ref.py, the reference's update rule), each step measurement in its own process (for its
 * peak memory), the two sides alternating over `rounds` rounds (default 3). Prints one JSON line per model: the
 * median step of each side, their ratio per round and its median, the peak memory of each, and cbp's first step.
 * Needs /usr/bin/python3 with torch and torchvision.
 */
import {execFileSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {trainEnv} from './train-env';

const ROOT = path.resolve(__dirname, '..', '..');
const PY = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

interface Side {
  msPerStep: number;
  peakRssMB: number;
  firstStepMs?: number;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const lastJson = (out: string): Side => JSON.parse(out.trim().split('\n').pop() ?? '{}') as Side;

function main(): void {
  const rounds = Number(process.argv[2] ?? 3);
  const models = process.argv.slice(3).length > 0 ? process.argv.slice(3) : ['mobilenet_v2', 'resnet50'];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-arch-'));
  const torchRef = path.join(ROOT, 'bench', 'torch_ref.py');
  for (const name of models) {
    const file = path.join(tmp, `${name}.onnx`);
    execFileSync(PY, [torchRef, 'export', name, file], {stdio: ['ignore', 'ignore', 'ignore']});
    const ours: Side[] = [];
    const theirs: Side[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternating which side goes first, so a drift of the machine falls on both.
      const run = (side: 'ours' | 'torch'): Side =>
        side === 'ours'
          ? lastJson(execFileSync(process.execPath, [path.join(ROOT, 'dist', 'bench', 'step.js'), 'onnx', file], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: trainEnv()}))
          : lastJson(execFileSync(PY, [torchRef, name, tmp], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}));
      const order: ('ours' | 'torch')[] = r % 2 === 0 ? ['ours', 'torch'] : ['torch', 'ours'];
      const got: Record<string, Side> = {};
      for (const side of order) got[side] = run(side);
      ours.push(got.ours);
      theirs.push(got.torch);
      ratios.push(got.ours.msPerStep / got.torch.msPerStep);
      process.stderr.write(`${name} round ${r + 1}: cbp ${got.ours.msPerStep.toFixed(0)} ms, PyTorch ${got.torch.msPerStep.toFixed(0)} ms\n`);
    }
    process.stdout.write(JSON.stringify({
      model: name,
      batch: 32,
      cbpMsPerStep: median(ours.map((s) => s.msPerStep)),
      torchMsPerStep: median(theirs.map((s) => s.msPerStep)),
      ratios: ratios.map((x) => Number(x.toFixed(2))),
      medianRatio: Number(median(ratios).toFixed(2)),
      cbpFirstStepMs: median(ours.map((s) => s.firstStepMs ?? 0)),
      cbpPeakMB: Math.round(median(ours.map((s) => s.peakRssMB))),
      torchPeakMB: Math.round(median(theirs.map((s) => s.peakRssMB))),
      machine: `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}`,
    }) + '\n');
  }
}

main();
