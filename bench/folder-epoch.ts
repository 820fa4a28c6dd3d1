/**
 * A whole `cbp train` ResNet-18 binary epoch on an image folder against a PyTorch script doing the same
 * (`bench/torch_ref.py folder-epoch`): both decode and augment the same photographs (random resized crop 224 and
 * flip; validation: resize 256, centre crop 224), take the same binary CBP steps at batch 32, test on val/ and write a
 * checkpoint. Each side is one whole process, timed from outside (start-up included); rounds alternate the sides and
 * reverse their order every other round. The folder: `--train N` (default 128) and `--val N` (default 64)
 * photographs of 500×375, made from the test fixtures' photos, in 4 classes.
 *
 * cbp's own log gives the split of its epoch: the engine reports its first and steady step times through
 * CBP_STEP_TIMES (set here), which `cbp train` prints to stderr.
 *
 *   npm run build && node dist/bench/folder-epoch.js [--rounds 3] [--train 128] [--val 64] [--write]
 */
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {writeDocBlock} from './doc-block';
import {count, median} from './args';
import {makePhotos} from './photos';

const ROOT = path.resolve(__dirname, '..', '..');

interface Run {
  seconds: number;
  output: string;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Run {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {encoding: 'utf8', cwd: ROOT, env, maxBuffer: 1 << 26});
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return {seconds, output: `${r.stdout}\n${r.stderr}`};
}

async function main(): Promise<void> {
  const rounds = count('--rounds', 3);
  const nTrain = count('--train', 128);
  const nVal = count('--val', 64);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-folder-epoch-'));
  const data = path.join(tmp, 'photos');
  const classes = ['c0', 'c1', 'c2', 'c3'];
  await makePhotos(path.join(data, 'train'), classes, nTrain, 0);
  await makePhotos(path.join(data, 'val'), classes, nVal, nTrain);
  const cbpArgs = (r: number): string[] => [path.join(ROOT, 'bin', 'run.js'), 'train', '--model', 'resnet18', '--quant', 'bin', '--data', data, '--epochs', '1', '--batch-size', '32', '--no-plot', '--engine', 'onnxruntime', '--out', path.join(tmp, `cbp-${r}`)];
  const torchArgs = (r: number): string[] => [path.join(ROOT, 'bench', 'torch_ref.py'), 'folder-epoch', data, path.join(tmp, `torch-${r}.pth`)];
  const rows: {cbp: number; torch: number; first?: number; steady?: number; evalSeconds?: number}[] = [];
  for (let r = 0; r < rounds; r++) {
    const cbp = (): Run => timed(process.execPath, cbpArgs(r), {...process.env, CBP_STEP_TIMES: '1'});
    const torch = (): Run => timed('/usr/bin/python3', torchArgs(r));
    // cbp first in even rounds, PyTorch first in odd ones.
    let a: Run;
    let b: Run;
    if (r % 2 === 0) {
      a = cbp();
      b = torch();
    } else {
      b = torch();
      a = cbp();
    }
    const times = /step times: first ([\d.]+) s, steady median ([\d.]+) s, evaluation ([\d.]+) s/.exec(a.output);
    rows.push({cbp: a.seconds, torch: b.seconds, first: times ? Number(times[1]) : undefined, steady: times ? Number(times[2]) : undefined, evalSeconds: times ? Number(times[3]) : undefined});
    const row = rows[rows.length - 1];
    process.stdout.write(`round ${r + 1}: cbp ${row.cbp.toFixed(1)} s, PyTorch ${row.torch.toFixed(1)} s, ${(row.cbp / row.torch).toFixed(2)}×` +
      (row.first !== undefined ? `  (cbp first step ${row.first.toFixed(2)} s, steady ${row.steady?.toFixed(2)} s, evaluation ${row.evalSeconds?.toFixed(2)} s)` : '') + '\n');
  }
  const ratios = rows.map((x) => x.cbp / x.torch);
  const f = (xs: (number | undefined)[]): string => xs.map((x) => (x === undefined ? '–' : x.toFixed(1))).join(', ');
  const block = [
    `| ${nTrain} + ${nVal} photos, ResNet-18 bin, batch 32 | rounds 1–${rounds} | median |`,
    '|---|---|---|',
    `| cbp train, whole process, s | ${f(rows.map((x) => x.cbp))} | ${median(rows.map((x) => x.cbp)).toFixed(1)} |`,
    `| PyTorch script, whole process, s | ${f(rows.map((x) => x.torch))} | ${median(rows.map((x) => x.torch)).toFixed(1)} |`,
    `| ratio | ${ratios.map((x) => `${x.toFixed(2)}×`).join(', ')} | **${median(ratios).toFixed(2)}×** |`,
    `| cbp's first step, s | ${f(rows.map((x) => x.first))} | |`,
    `| cbp's steady step (median), s | ${f(rows.map((x) => x.steady))} | |`,
    `| cbp's evaluation of val/, s | ${f(rows.map((x) => x.evalSeconds))} | |`,
    '',
  ].join('\n');
  process.stdout.write(`\n${block}`);
  if (process.argv.includes('--write')) writeDocBlock(path.join(ROOT, 'docs', 'BENCHMARKS.md'), 'folder-epoch', block);
  fs.rmSync(tmp, {recursive: true, force: true});
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
