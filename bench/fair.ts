/**
 * The fair harness every cbp-against-PyTorch comparison runs through (bench/arch-step.ts, bench/folder-epoch.ts,
 * bench/lenet-epoch.ts and `npm run bench`):
 *   - the same allocator for both sides: glibc's malloc on huge pages for both (the default), or for neither
 *     (`--huge-pages off`; `both` measures each);
 *   - PyTorch at its best: each configuration {1, 2 threads} × {contiguous, channels_last} is measured in
 *     calibration rounds (`--calibration-rounds`, default 2, rotating order), the fastest median wins and the timed
 *     rounds run it; the output names it and lists every configuration's median;
 *   - a quiet machine: before each round the harness waits (at most `--quiet-wait` s, default 180) until the
 *     1-minute load average is ≤ 0.5 and a 2 s sample of /proc/stat is ≥ 90% idle, or refuses the comparison;
 *     a step run must keep its threads busy (≥ 0.9 cores per thread over its timed steps) and no run may share the
 *     machine (other processes ≤ 0.15 cores while it ran, from /proc/stat and the run's own CPU): a round that fails
 *     either is discarded and repeated (at most `--max-discards` times, default 5);
 *   - `--rounds` (default 5) kept rounds, the two sides alternating which goes first; minimum and median of each
 *     side, the ratio of medians and each round's ratio, peak RSS, each side's first step.
 * Each comparison prints one JSON line (`"bench": "fair"`) and a table; a figure from a discarded round is never
 * printed, and a comparison that cannot get its quiet rounds prints no ratio. `--no-quiet-check` (development
 * only) turns the guard and the checks off and marks the output UNCHECKED, not for publication. BENCH_QUICK=1
 * shortens everything (2 rounds, 1 calibration round, fewer steps) and is not for publication either, nor is a
 * guard with changed limits (`--max-load`, `--min-idle`, `--cores-per-thread`: for trying the discard path on a busy
 * machine, or for looking into a side that never keeps its threads busy on a quiet one).
 */
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  bestConfig,
  blasHandicap,
  configLabel,
  idleBetween,
  LIMITS,
  median,
  parseConfig,
  quietVerdict,
  ratios,
  rotate,
  roundOrder,
  runVerdict,
  spread,
  TORCH_CONFIGS,
  type Limits,
  type TorchConfig,
} from './fair-rules';
import {allocatorEnv} from './train-env';
import {sessionThreads} from '../src/core/cores';

export const ROOT = path.resolve(__dirname, '..', '..');
export const PY = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
export const TORCH_REF = path.join(ROOT, 'bench', 'torch_ref.py');
const RUSAGE = path.join(ROOT, 'bench', 'rusage.py');

/** One process to run: what each side of a comparison starts. */
export interface Run {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/**
 * A comparison: cbp's side and PyTorch's side in a given configuration. `step`: each run prints a JSON line with
 * msPerStep, firstStepMs, peakRssMB, cores and threads (bench/step.ts, bench/torch_ref.py); `process`: each run is
 * timed whole from outside, and cbp's first step is read from its CBP_STEP_TIMES line, PyTorch's from its JSON.
 */
export interface Comparison {
  readonly model: string;
  readonly title: string;
  readonly kind: 'step' | 'process';
  /** cbp's side in the given allocator environment; `tag` names this run's files. */
  cbp(env: NodeJS.ProcessEnv, tag: string): Run;
  /** The same for PyTorch; the environment already holds the thread variables of `config`. */
  torch(config: TorchConfig, env: NodeJS.ProcessEnv, tag: string): Run;
  /** Work before the first round (an export, a folder of photos): not timed. */
  prepare?(): void | Promise<void>;
  /** After each run (removes what it wrote). */
  cleanup?(tag: string): void;
}

export interface FairOptions {
  readonly rounds: number;
  readonly calibrationRounds: number;
  readonly quietCheck: boolean;
  readonly quietWaitS: number;
  readonly maxDiscards: number;
  readonly hugePages: readonly boolean[];
  readonly torchConfig?: TorchConfig;
  readonly quick: boolean;
  readonly limits: Limits;
}

function value(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  if (i + 1 >= argv.length) throw new Error(`${name}: expected a value after it`);
  return argv[i + 1];
}

function real(argv: readonly string[], name: string, fallback: number): number {
  const v = value(argv, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`${name} ${v}: expected a number ≥ 0`);
  return n;
}

function whole(argv: readonly string[], name: string, fallback: number, min: number): number {
  const v = value(argv, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} ${v}: expected a whole number ≥ ${min}`);
  return n;
}

/** The harness's flags, shared by every comparison script (see the head of this file). */
export function fairOptions(argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env): FairOptions {
  const quick = env.BENCH_QUICK === '1';
  const huge = value(argv, '--huge-pages') ?? 'on';
  if (huge !== 'on' && huge !== 'off' && huge !== 'both') throw new Error(`--huge-pages ${huge}: expected on, off or both`);
  const given = value(argv, '--torch-config');
  return {
    rounds: whole(argv, '--rounds', quick ? 2 : 5, 1),
    calibrationRounds: whole(argv, '--calibration-rounds', quick ? 1 : 2, 1),
    quietCheck: !argv.includes('--no-quiet-check'),
    quietWaitS: whole(argv, '--quiet-wait', 180, 0),
    maxDiscards: whole(argv, '--max-discards', 5, 0),
    hugePages: huge === 'both' ? [true, false] : [huge === 'on'],
    torchConfig: given === undefined ? undefined : parseConfig(given),
    quick,
    limits: {
      ...LIMITS,
      maxLoad: real(argv, '--max-load', LIMITS.maxLoad),
      minIdle: real(argv, '--min-idle', LIMITS.minIdle),
      coresPerThread: real(argv, '--cores-per-thread', LIMITS.coresPerThread),
    },
  };
}

/** What makes a comparison's figures unfit to publish, in words; none means publishable. */
export function unpublishable(o: FairOptions): string[] {
  const why: string[] = [];
  if (!o.quietCheck) why.push('UNCHECKED, not for publication: --no-quiet-check turned the quiet guard and the CPU checks off');
  if (o.quick) why.push('BENCH_QUICK=1: shortened, not for publication');
  if (o.rounds < 5) why.push(`${o.rounds} round${o.rounds === 1 ? '' : 's'} (publication needs ≥ 5)`);
  if (o.torchConfig !== undefined) why.push(`PyTorch's configuration given (--torch-config), not calibrated`);
  if (o.limits.maxLoad !== LIMITS.maxLoad || o.limits.minIdle !== LIMITS.minIdle || o.limits.coresPerThread !== LIMITS.coresPerThread) {
    why.push(`checks changed (--max-load ${o.limits.maxLoad}, --min-idle ${o.limits.minIdle}, --cores-per-thread ${o.limits.coresPerThread}), not for publication`);
  }
  return why;
}

/** One side's kept run. `figureMs`: ms per step (step) or the whole process's wall time in ms (process). */
export interface SideRun {
  readonly figureMs: number;
  readonly firstStepMs?: number;
  readonly peakRssMB: number;
  readonly cores: number;
  readonly threads: number;
  readonly foreignCores: number;
}

interface Usage {
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMB: number;
  machineBusySeconds: number;
}

let runCount = 0;

/** Runs `run` under bench/rusage.py; the side's figures, or why it failed (a failure ends the comparison). */
function measure(c: Comparison, run: Run, threads: number, tmp: string): SideRun | {error: string} {
  const out = path.join(tmp, `rusage-${process.pid}-${runCount++}.json`);
  const r = spawnSync(PY, [RUSAGE, out, run.cmd, ...run.args], {encoding: 'utf8', env: run.env, cwd: ROOT, maxBuffer: 1 << 26});
  if (r.status !== 0 || !fs.existsSync(out)) {
    const tail = `${r.stderr ?? ''}`.trim().split('\n').slice(-4).join(' | ');
    return {error: `${path.basename(run.cmd)} ${run.args.map((a) => path.basename(a)).join(' ')} failed (${r.status ?? r.signal}): ${tail}`};
  }
  const u = JSON.parse(fs.readFileSync(out, 'utf8')) as Usage;
  fs.rmSync(out, {force: true});
  const foreignCores = Math.max(0, u.machineBusySeconds - u.cpuSeconds) / u.wallSeconds;
  if (c.kind === 'process') {
    const times = /step times: first ([\d.]+) s/.exec(r.stderr);
    const own = lastJson(r.stdout);
    const first = times ? Number(times[1]) * 1000 : typeof own?.firstStepMs === 'number' ? own.firstStepMs : undefined;
    return {figureMs: u.wallSeconds * 1000, firstStepMs: first, peakRssMB: u.peakRssMB, cores: u.cpuSeconds / u.wallSeconds, threads, foreignCores};
  }
  const j = lastJson(r.stdout);
  if (j === undefined || typeof j.msPerStep !== 'number' || typeof j.cores !== 'number') {
    return {error: `${path.basename(run.cmd)} printed no step figures: ${r.stdout.trim().slice(-200)}`};
  }
  return {
    figureMs: j.msPerStep,
    firstStepMs: typeof j.firstStepMs === 'number' ? j.firstStepMs : undefined,
    peakRssMB: typeof j.peakRssMB === 'number' ? j.peakRssMB : u.peakRssMB,
    cores: j.cores,
    threads: typeof j.threads === 'number' ? j.threads : threads,
    foreignCores,
  };
}

function lastJson(text: string): Record<string, unknown> | undefined {
  const line = text.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (line === undefined) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function readStatLine(): string {
  return fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
}

/** The 1-minute load average and the idle fraction of a ~2 s sample. */
export async function machineNow(): Promise<{load1: number; idle: number}> {
  const before = readStatLine();
  await sleep(2000);
  const after = readStatLine();
  const load1 = Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  return {load1, idle: idleBetween(before, after)};
}

/** Waits until the machine is quiet, at most o.quietWaitS seconds; why not, or undefined. */
async function waitQuiet(o: FairOptions, what: string, log: (s: string) => void): Promise<string | undefined> {
  if (!fs.existsSync('/proc/loadavg') || !fs.existsSync('/proc/stat')) {
    return 'the quiet check reads /proc/loadavg and /proc/stat (Linux); --no-quiet-check runs unchecked';
  }
  const deadline = Date.now() + o.quietWaitS * 1000;
  let told = 0;
  for (;;) {
    const m = await machineNow();
    const why = quietVerdict(m.load1, m.idle, o.limits);
    if (why === undefined) return undefined;
    if (Date.now() >= deadline) return `machine not quiet after ${o.quietWaitS} s of waiting before ${what}: ${why}`;
    if (Date.now() - told >= 30000) {
      log(`  waiting for a quiet machine before ${what}: ${why}`);
      told = Date.now();
    }
    await sleep(3000);
  }
}

export interface SideSummary {
  readonly min: number;
  readonly median: number;
  readonly figures: number[];
  readonly peakRssMB: number;
  readonly peakRssMBMax: number;
  readonly firstStepMs?: number;
  readonly cores: number;
}

export interface FairResult {
  readonly bench: 'fair';
  readonly model: string;
  readonly title: string;
  readonly kind: 'step' | 'process';
  readonly unit: 'ms per step' | 'ms, whole process';
  readonly hugePages: boolean;
  readonly status: 'measured' | 'refused';
  readonly publishable: boolean;
  readonly notes: string[];
  /** When refused: why, and no figure. */
  readonly reason?: string;
  readonly torchConfig?: TorchConfig & {readonly chosen: 'calibrated' | 'given'};
  readonly calibration?: {config: string; medianMs: number; figures: number[]}[];
  readonly roundsKept?: number;
  readonly firstInRound?: ('cbp' | 'torch')[];
  readonly cbp?: SideSummary;
  readonly torch?: SideSummary;
  readonly ratio?: number;
  readonly roundRatios?: number[];
  readonly peakRssRatio?: number;
  readonly discarded: string[];
  /** With --no-quiet-check: what the checks would have discarded. */
  readonly warnings: string[];
  readonly machine: string;
  readonly torchBlas: TorchBlas;
}

function summarize(runs: readonly SideRun[]): SideSummary {
  const figures = runs.map((r) => r.figureMs);
  const firsts = runs.map((r) => r.firstStepMs).filter((x): x is number => x !== undefined);
  return {
    ...spread(figures),
    figures,
    peakRssMB: median(runs.map((r) => r.peakRssMB)),
    peakRssMBMax: Math.max(...runs.map((r) => r.peakRssMB)),
    firstStepMs: firsts.length > 0 ? median(firsts) : undefined,
    cores: median(runs.map((r) => r.cores)),
  };
}

/** PyTorch's environment for `config`: the allocator's, plus its thread count for OpenMP and the BLAS libraries. */
export function torchEnv(config: TorchConfig, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const t = String(config.threads);
  return {...base, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t, OPENBLAS_NUM_THREADS: t, BENCH_THREADS: t, BENCH_MEMORY_FORMAT: config.memoryFormat};
}

/**
 * The BLAS PyTorch's matrix products run on (its Linear layers and attention; convolutions use oneDNN): the
 * libraries its process maps and one thread's GFLOP/s on a 1024² product (`torch_ref.py blas`). Debian's
 * python3-torch calls whatever libblas.so.3 points to — the reference BLAS unless an optimised one is installed,
 * which made the study ViT's PyTorch step 13 s instead of 0.7 s here (LeNet-5's and every classifier's dense layers
 * are slowed too): such a comparison is marked unfit to publish (blasHandicap).
 */
export interface TorchBlas {
  readonly libraries: readonly string[];
  readonly gflops: number;
  /** Why this is not PyTorch at its best, or undefined. */
  readonly handicap?: string;
}

let blasSeen: TorchBlas | undefined;

export function torchBlas(): TorchBlas {
  if (blasSeen !== undefined) return blasSeen;
  const r = spawnSync(PY, [TORCH_REF, 'blas'], {encoding: 'utf8', cwd: ROOT});
  if (r.status !== 0) throw new Error(`${TORCH_REF} blas failed: ${(r.stderr ?? '').trim().split('\n').pop() ?? ''}`);
  // The script prints one JSON object: {libraries: string[], gflops: number}.
  const got = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {libraries?: string[]; gflops?: number};
  const libraries = got.libraries ?? [];
  const gflops = got.gflops ?? 0;
  const handicap = blasHandicap(libraries, gflops);
  blasSeen = {libraries, gflops, ...(handicap !== undefined ? {handicap} : {})};
  return blasSeen;
}

/** `torch_ref.py --threads N --memory-format F ARGS`. */
export function torchRefRun(config: TorchConfig, env: NodeJS.ProcessEnv, args: readonly string[]): Run {
  return {cmd: PY, args: [TORCH_REF, '--threads', String(config.threads), '--memory-format', config.memoryFormat, ...args], env};
}

const key = (c: TorchConfig): string => configLabel(c);

/** Runs one comparison with one allocator setting. */
export async function compare(c: Comparison, o: FairOptions, hugePages: boolean, log: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Promise<FairResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-fair-'));
  const base = allocatorEnv(hugePages);
  const blas = torchBlas();
  const notes = [...unpublishable(o), ...(blas.handicap !== undefined ? [blas.handicap] : [])];
  const discarded: string[] = [];
  const warnings: string[] = [];
  const head = {
    bench: 'fair' as const,
    model: c.model,
    title: c.title,
    kind: c.kind,
    unit: c.kind === 'step' ? ('ms per step' as const) : ('ms, whole process' as const),
    hugePages,
    machine: `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    torchBlas: blas,
  };
  const refuse = (reason: string): FairResult => {
    log(`${c.model}: NO RATIO — ${reason}`);
    return {...head, status: 'refused', publishable: false, notes, reason, discarded, warnings};
  };
  const verdict = (label: string, r: SideRun): string | undefined => {
    const why = runVerdict(label, c.kind, r, o.limits);
    if (why !== undefined && !o.quietCheck) {
      warnings.push(why);
      return undefined;
    }
    return why;
  };
  const guard = async (what: string): Promise<string | undefined> => {
    if (o.quietCheck) return waitQuiet(o, what, log);
    const m = fs.existsSync('/proc/loadavg') ? await machineNow() : undefined;
    const why = m === undefined ? undefined : quietVerdict(m.load1, m.idle, o.limits);
    if (why !== undefined) warnings.push(`before ${what}: ${why}`);
    return undefined;
  };
  let tags = 0;
  const cbpRun = (): SideRun | {error: string} => {
    const tag = `cbp-${tags++}`;
    const r = measure(c, c.cbp(base, path.join(tmp, tag)), sessionThreads(), tmp);
    c.cleanup?.(path.join(tmp, tag));
    return r;
  };
  const torchRun = (config: TorchConfig): SideRun | {error: string} => {
    const tag = `torch-${tags++}`;
    const r = measure(c, c.torch(config, torchEnv(config, base), path.join(tmp, tag)), config.threads, tmp);
    c.cleanup?.(path.join(tmp, tag));
    return r;
  };
  try {
    log(`${c.model}: ${c.title}; huge pages ${hugePages ? 'on' : 'off'} for both sides; PyTorch's BLAS ${blas.libraries.map((l) => path.basename(path.dirname(l))).join(', ') || 'none mapped'} (${blas.gflops.toFixed(0)} GFLOP/s on one thread)${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`);
    await c.prepare?.();

    // Calibration: every configuration of PyTorch until each has its kept runs; the fastest median wins.
    let config = o.torchConfig;
    let calibration: FairResult['calibration'];
    if (config === undefined) {
      const kept = new Map<string, number[]>(TORCH_CONFIGS.map((k) => [key(k), []]));
      let failures = 0;
      for (let attempt = 0; [...kept.values()].some((xs) => xs.length < o.calibrationRounds); attempt++) {
        const quiet = await guard(`calibration round ${attempt + 1}`);
        if (quiet !== undefined) return refuse(quiet);
        for (const k of rotate(TORCH_CONFIGS, attempt).filter((x) => (kept.get(key(x)) ?? []).length < o.calibrationRounds)) {
          const r = torchRun(k);
          if ('error' in r) return refuse(`PyTorch (${key(k)}): ${r.error}`);
          const why = verdict(`PyTorch (${key(k)})`, r);
          if (why !== undefined) {
            discarded.push(`calibration round ${attempt + 1}: ${why}`);
            log(`  calibration round ${attempt + 1}, ${key(k)}: discarded (${why})`);
            if (++failures > o.maxDiscards) return refuse(`${failures} calibration runs discarded (more than --max-discards ${o.maxDiscards}); the last: ${why}`);
            continue;
          }
          kept.get(key(k))?.push(r.figureMs);
          log(`  calibration round ${attempt + 1}, PyTorch ${key(k)}: ${fmt(r.figureMs, c.kind)} (${r.cores.toFixed(2)} cores)`);
        }
      }
      const best = bestConfig(kept);
      if (best === undefined) return refuse('no PyTorch configuration kept a run');
      config = TORCH_CONFIGS.find((k) => key(k) === best.key);
      if (config === undefined) return refuse(`internal: no configuration ${best.key}`);
      calibration = [...kept].map(([k, xs]) => ({config: k, medianMs: median(xs), figures: xs}));
      log(`  PyTorch at its best: ${best.key} (median ${fmt(best.median, c.kind)})`);
    }

    // The timed rounds: cbp and PyTorch at its best, alternating which goes first.
    const rounds: {first: 'cbp' | 'torch'; cbp: SideRun; torch: SideRun}[] = [];
    let failures = 0;
    for (let attempt = 1; rounds.length < o.rounds; attempt++) {
      const label = `round ${rounds.length + 1}${attempt > rounds.length + 1 ? ` (attempt ${attempt})` : ''}`;
      const quiet = await guard(label);
      if (quiet !== undefined) return refuse(quiet);
      const got: {cbp?: SideRun; torch?: SideRun} = {};
      const order = roundOrder(['cbp', 'torch'] as const, rounds.length);
      for (const side of order) {
        const r = side === 'cbp' ? cbpRun() : torchRun(config);
        if ('error' in r) return refuse(`${side === 'cbp' ? 'cbp' : 'PyTorch'}: ${r.error}`);
        got[side] = r;
      }
      const {cbp, torch} = got as {cbp: SideRun; torch: SideRun};
      const why = [verdict('cbp', cbp), verdict(`PyTorch (${key(config)})`, torch)].filter((x) => x !== undefined).join('; ');
      if (why !== '') {
        discarded.push(`${label}: ${why}`);
        log(`  ${label}: discarded (${why})`);
        if (++failures > o.maxDiscards) {
          return refuse(`${failures} rounds discarded (more than --max-discards ${o.maxDiscards}); ${rounds.length} of the ${o.rounds} quiet rounds needed were kept; the last: ${why}`);
        }
        continue;
      }
      rounds.push({first: order[0], cbp, torch});
      log(`  ${label}: cbp ${fmt(cbp.figureMs, c.kind)}, PyTorch ${fmt(torch.figureMs, c.kind)} (${(cbp.figureMs / torch.figureMs).toFixed(2)}×)`);
    }
    const cbpSum = summarize(rounds.map((r) => r.cbp));
    const torchSum = summarize(rounds.map((r) => r.torch));
    const q = ratios(cbpSum.figures, torchSum.figures);
    return {
      ...head,
      status: 'measured',
      publishable: notes.length === 0,
      notes,
      torchConfig: {...config, chosen: o.torchConfig === undefined ? 'calibrated' : 'given'},
      calibration,
      roundsKept: rounds.length,
      firstInRound: rounds.map((r) => r.first),
      cbp: cbpSum,
      torch: torchSum,
      ratio: q.ofMedians,
      roundRatios: q.perRound,
      peakRssRatio: cbpSum.peakRssMB / torchSum.peakRssMB,
      discarded,
      warnings,
    };
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
}

function fmt(ms: number, kind: 'step' | 'process'): string {
  return kind === 'step' ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The readable table of one result (Markdown). */
export function table(r: FairResult): string {
  const lines = [`### ${r.model}: ${r.title} — ${r.kind === 'step' ? 'ms per step' : 'seconds, whole process'}, huge pages ${r.hugePages ? 'on' : 'off'} for both`];
  for (const n of r.notes) lines.push(`**${n}**`);
  if (r.status === 'refused' || r.cbp === undefined || r.torch === undefined || r.torchConfig === undefined) {
    lines.push(`NO RATIO: ${r.reason ?? 'not measured'}`);
    for (const d of r.discarded) lines.push(`- discarded: ${d}`);
    return `${lines.join('\n')}\n`;
  }
  const show = (ms: number): string => (r.kind === 'step' ? ms.toFixed(0) : (ms / 1000).toFixed(1));
  const firstUnit = (ms: number | undefined): string => (ms === undefined ? '–' : r.kind === 'step' ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);
  const n = r.cbp.figures.length;
  const cols = Array.from({length: n}, (_, i) => `round ${i + 1} (${r.firstInRound?.[i] === 'cbp' ? 'cbp' : 'PyTorch'} first)`);
  const tc = configLabel(r.torchConfig);
  lines.push(
    r.calibration !== undefined
      ? `PyTorch at its best: **${tc}** (calibration medians: ${r.calibration.map((x) => `${x.config} ${show(x.medianMs)}`).join('; ')})`
      : `PyTorch's configuration: **${tc}** (given with --torch-config, not calibrated)`,
  );
  lines.push('');
  lines.push(`| | ${cols.join(' | ')} | min | median | peak RSS, MB | first step | cores |`);
  lines.push(`|---|${cols.map(() => '---|').join('')}---|---|---|---|---|`);
  const row = (name: string, s: SideSummary): string =>
    `| ${name} | ${s.figures.map(show).join(' | ')} | ${show(s.min)} | ${show(s.median)} | ${s.peakRssMB.toFixed(0)} | ${firstUnit(s.firstStepMs)} | ${s.cores.toFixed(2)} |`;
  lines.push(row('cbp', r.cbp));
  lines.push(row(`PyTorch (${tc})`, r.torch));
  lines.push(`| cbp / PyTorch | ${(r.roundRatios ?? []).map((x) => `${x.toFixed(2)}×`).join(' | ')} | | **${(r.ratio ?? Number.NaN).toFixed(2)}×** (of medians) | ${(r.peakRssRatio ?? Number.NaN).toFixed(2)}× | | |`);
  if (r.discarded.length > 0) lines.push('', `${r.discarded.length} discarded (not shown): ${r.discarded.join(' · ')}`);
  if (r.warnings.length > 0) {
    const shown = r.warnings.slice(0, 3).join(' · ');
    lines.push('', `unchecked — ${r.warnings.length} checks failed and would have discarded rounds, e.g.: ${shown}${r.warnings.length > 3 ? ' · … (all in the JSON line)' : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Runs each comparison for each allocator setting, printing its JSON line and its table; returns the results. */
export async function runComparisons(cs: readonly Comparison[], o: FairOptions, write: (s: string) => void = (s) => process.stdout.write(s)): Promise<FairResult[]> {
  const out: FairResult[] = [];
  for (const c of cs) {
    for (const huge of o.hugePages) {
      const r = await compare(c, o, huge);
      out.push(r);
      write(`${JSON.stringify(r)}\n`);
      write(`\n${table(r)}\n`);
    }
  }
  return out;
}
