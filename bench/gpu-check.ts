/**
 * The GPU kit's check (docs/GPU.md): one JSON on stdout saying what this machine has — GPU and driver, Vulkan ICDs
 * and loader, the execution providers onnxruntime-node lists and which it can create — and, for each of cpu, webgpu
 * and cuda that starts, agreement with the CPU, images per second and ONNX Runtime engine steps.
 *
 *   node dist/bench/gpu-check.js --models DIR [--work DIR] [--quick] [--budget SECONDS]
 *
 * Every device runs in child processes of its own: a provider that fails natively (Dawn, CUDA) or hangs costs that
 * device its figures, recorded as the reason, never the whole check; children share --budget (default 480 s), so
 * the JSON comes out before a caller's timeout. Progress goes to stderr. Nothing here loads TensorFlow.js: the kit
 * does not carry it.
 */
import {spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {CbpError, errorMessage} from '../src/core/errors';
import {Rng} from '../src/core/rng';
import {initialWeights} from '../src/train/init';
import {getModel} from '../models/index';
import type {ModelSpec, QuantOrNone} from '../models/spec';
import {writeOnnx, type WeightFormat} from '../onnx/writer';

/** The package root (the kit's cbp/ folder, or the repository): the compiled file sits in dist/bench. */
const ROOT = path.resolve(__dirname, '..', '..');
export const CHECK_DEVICES = ['cpu', 'webgpu', 'cuda'] as const;
type CheckDevice = (typeof CHECK_DEVICES)[number];
const EVAL_BATCHES = [32, 64, 128] as const;
const AGREEMENT_BATCH = 16;
const SEED = 20260;

/** The models the check evaluates: file names in the models folder, and how the library makes the ones built from seeds. */
export interface KitModel {
  readonly file: string;
  readonly shape: readonly [number, number, number];
  /** Made from initialWeights (no training) by `seededModel`; absent for the trained LeNet-5. */
  readonly seeded?: {readonly model: 'resnet18'; readonly quant: QuantOrNone; readonly format: WeightFormat};
  /** Left out of --quick runs. */
  readonly large: boolean;
}

export const KIT_MODELS: readonly KitModel[] = [
  {file: 'lenet5_bin.onnx', shape: [1, 28, 28], large: false},
  {file: 'resnet18_bin.onnx', shape: [3, 224, 224], seeded: {model: 'resnet18', quant: 'bin', format: 'auto'}, large: true},
  {file: 'resnet18_float.onnx', shape: [3, 224, 224], seeded: {model: 'resnet18', quant: 'none', format: 'float'}, large: true},
];

/**
 * A full-width ResNet-18 at 224 from the library's initial weights. The float one (47 MB of random float32) cannot be
 * compressed into the carry limit, so the kit makes it where it runs; the manifest's hash proves it is the same file.
 */
export function seededModel(m: NonNullable<KitModel['seeded']>): Uint8Array {
  const spec: ModelSpec = getModel(m.model, 1000, [3, 224, 224]);
  return writeOnnx(spec, m.quant, initialWeights(spec, m.quant, 1), m.format, {source: 'cbp gpu kit: initialWeights seed 1'}).bytes;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function randomBatch(n: number, shape: readonly number[], seed: number): Float32Array<ArrayBuffer> {
  const rng = new Rng(seed);
  return Float32Array.from({length: n * shape[0] * shape[1] * shape[2]}, () => rng.normal());
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
}

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));
const log = (line: string): void => void process.stderr.write(`gpu-check: ${line}\n`);

// ---------------------------------------------------------------------------------------------------------------
// Child roles: each prints one JSON line on stdout.

/** Sessions of every model on one device: the agreement batch's logits (written to files) and images per second. */
async function evalRole(device: CheckDevice, models: string, work: string, quick: boolean): Promise<unknown> {
  const {openSession, runBatch} = await import('../src/core/ort');
  const out: Record<string, unknown> = {};
  let line = '';
  for (const m of KIT_MODELS.filter((k) => !quick || !k.large)) {
    const bytes = fs.readFileSync(path.join(models, m.file));
    const t0 = performance.now();
    let opened: Awaited<ReturnType<typeof openSession>>;
    try {
      opened = await openSession(bytes, device, m.file);
    } catch (err) {
      // The first model decides whether the device starts at all; a later one that fails is a row of its own.
      if (Object.keys(out).length === 0) throw err;
      out[m.file] = {error: errorMessage(err).split('\n')[0]};
      continue;
    }
    line = opened.line;
    const loadMs = performance.now() - t0;
    const agree = await runBatch(opened.session, randomBatch(AGREEMENT_BATCH, m.shape, SEED), [AGREEMENT_BATCH, ...m.shape], m.file);
    fs.writeFileSync(path.join(work, `${device}-${m.file}.f32`), new Uint8Array(agree.data.buffer, agree.data.byteOffset, agree.data.byteLength));
    const batches: Record<string, unknown> = {};
    const pool = randomBatch(EVAL_BATCHES[EVAL_BATCHES.length - 1], m.shape, SEED + 1);
    for (const b of quick ? [EVAL_BATCHES[0]] : EVAL_BATCHES) {
      const x = pool.subarray(0, b * m.shape[0] * m.shape[1] * m.shape[2]);
      const f0 = performance.now();
      await runBatch(opened.session, x, [b, ...m.shape], m.file);
      const firstMs = performance.now() - f0;
      // At least 3 timed runs and a second of them, so a fast GPU is not timed on one launch.
      const times: number[] = [];
      const start = performance.now();
      while (times.length < (quick ? 1 : 3) || (performance.now() - start < 1000 && times.length < 50)) {
        const r0 = performance.now();
        await runBatch(opened.session, x, [b, ...m.shape], m.file);
        times.push(performance.now() - r0);
      }
      const total = times.reduce((a, t) => a + t, 0);
      batches[`b${b}`] = {imagesPerSecond: round((b * times.length) / (total / 1000)), firstRunMs: round(firstMs), runs: times.length};
    }
    await opened.session.release();
    out[m.file] = {loadMs: round(loadMs), ...batches};
    log(`${device}: ${m.file} done`);
  }
  return {line, models: out};
}

/** Steps of the ONNX Runtime training engine on one device (binary weights, λ 1e-4, random data, as bench/step.ts). */
async function trainRole(device: CheckDevice, quick: boolean): Promise<unknown> {
  const {createOrtEngine} = await import('../src/train/ort/engine');
  const {constrainedNodes, paramInfos} = await import('../models/spec');
  const {LAMBDA_PREFIX} = await import('../src/run/checkpoint');
  const cases = [
    {name: 'lenet5_b256', model: 'lenet5', batch: 256, shape: [1, 28, 28] as const},
    {name: 'resnet18_b32', model: 'resnet18', batch: 32, shape: [3, 224, 224] as const},
  ].filter((c) => !quick || c.model === 'lenet5');
  const steps = quick ? 2 : 5;
  const out: Record<string, unknown> = {};
  let line = '';
  for (const c of cases) {
    const spec = getModel(c.model, 10, c.shape);
    const lambdas = new Map(constrainedNodes(spec, 'bin').map((n) => {
      const shape = paramInfos(spec, 'bin').find((p) => p.key === `${n.name}.weight`)?.shape ?? [];
      return [LAMBDA_PREFIX + n.name, {shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1e-4)}];
    }));
    const source = {kind: 'builtin' as const, name: 'random', shape: spec.inputShape, numClasses: 10, labels: [], mean: [0], std: [1], test: {count: 0, batches: async function* () {}}};
    const engine = await createOrtEngine({
      spec, quant: 'bin', weights: initialWeights(spec, 'bin', 1), stored: lambdas, weightDecay: 1e-4, lrLambda: 1e-4, constraintTerm: true, source, device,
      log: (l) => {
        line = l;
      },
    }).catch((err: unknown) => {
      out[c.name] = {error: errorMessage(err).split('\n')[0]};
      return undefined;
    });
    if (engine === undefined) continue;
    const rng = new Rng(SEED);
    const x = randomBatch(c.batch, c.shape, SEED);
    const y = Int32Array.from({length: c.batch}, () => Math.floor(rng.next() * 10));
    const times: number[] = [];
    let loss = NaN;
    try {
      for (let i = 0; i < steps; i++) {
        const t = performance.now();
        loss = (await engine.step({x, y, count: c.batch}, 0, 1e-3)).loss;
        times.push(performance.now() - t);
      }
    } catch (err) {
      out[c.name] = {error: errorMessage(err).split('\n')[0], stepsDone: times.length};
      continue;
    } finally {
      await engine.close();
    }
    out[c.name] = {firstStepMs: round(times[0]), msPerStep: round(median(times.slice(1))), steps, lastLoss: round(loss, 4)};
    log(`${device}: training ${c.name} done`);
  }
  return {line, steps: out};
}

/** Creates a session on one execution provider by its ONNX Runtime name, nothing of cbp's in between. */
async function providerRole(name: string, models: string): Promise<unknown> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(fs.readFileSync(path.join(models, KIT_MODELS[0].file)), {executionProviders: [name]});
  await session.release();
  return {ok: true};
}

/** Whether the dynamic loader can load libvulkan.so.1 (process.dlopen loads it, then finds it is no addon). */
function vulkanRole(): unknown {
  try {
    process.dlopen({exports: {}}, 'libvulkan.so.1');
    return {loads: true};
  } catch (err) {
    const m = errorMessage(err);
    return /self-register|not a valid|register/i.test(m) ? {loads: true} : {loads: false, reason: m.split('\n')[0]};
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The parent: runs the roles in children and puts one JSON together.

interface ChildAnswer {
  readonly ok: boolean;
  readonly value?: unknown;
  readonly reason?: string;
  /** Native messages the child printed (Dawn, ONNX Runtime), last lines only. */
  readonly nativeLog?: string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** When the whole check must end (--budget): children get what is left, so one JSON always comes out in time. */
let deadline = Infinity;
const left = (capMs: number): number => Math.max(0, Math.min(capMs, deadline - Date.now()));

function child(args: readonly string[], capMs: number, env: NodeJS.ProcessEnv = process.env): ChildAnswer {
  const timeoutMs = left(capMs);
  if (timeoutMs < 5000) return {ok: false, reason: 'not run: the check\'s --budget was spent'};
  const r = spawnSync(process.execPath, [__filename, ...args], {encoding: 'utf8', timeout: timeoutMs, env, maxBuffer: 64 * 1024 * 1024});
  // ONNX Runtime colours its native errors; the JSON keeps the text.
  const native = (r.stderr ?? '').replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('gpu-check: ')).slice(-4);
  const extra = native.length > 0 ? {nativeLog: native} : {};
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    parsed = undefined;
  }
  if (isRecord(parsed) && 'value' in parsed) return {ok: true, value: parsed.value, ...extra};
  if (isRecord(parsed) && typeof parsed.error === 'string') return {ok: false, reason: parsed.error, ...extra};
  if (r.error !== undefined && errorMessage(r.error).includes('ETIMEDOUT')) return {ok: false, reason: `did not finish within ${timeoutMs / 1000} s`, ...extra};
  return {ok: false, reason: `the process ended (${r.signal !== null ? `signal ${r.signal}` : `exit ${r.status}`}) without an answer`, ...extra};
}

function run(cmd: string, args: readonly string[]): {ok: boolean; out: string} {
  const r = spawnSync(cmd, [...args], {encoding: 'utf8', timeout: 30_000});
  if (r.error !== undefined) return {ok: false, out: errorMessage(r.error)};
  return {ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim()};
}

function gpuInfo(): unknown {
  const r = run('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader']);
  return r.ok ? {nvidiaSmi: r.out.split('\n')} : {nvidiaSmi: null, reason: r.out.split('\n')[0]};
}

const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'];

function icdFiles(): {file: string; library: string}[] {
  const found: {file: string; library: string}[] = [];
  for (const dir of ICD_DIRS) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch {
      continue;
    }
    for (const n of names) {
      const file = path.join(dir, n);
      let library = '?';
      try {
        const j: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
        if (isRecord(j) && isRecord(j.ICD) && typeof j.ICD.library_path === 'string') library = j.ICD.library_path;
      } catch (err) {
        library = `unreadable: ${errorMessage(err)}`;
      }
      found.push({file, library});
    }
  }
  return found;
}

/**
 * NVIDIA's Vulkan driver lives in libGLX_nvidia.so.0 (libEGL_nvidia.so.0 on some installs); a container may hold it
 * without the ICD file that names it. Then a file of our own, given to the loader by VK_ICD_FILENAMES, lets Dawn find it.
 */
function nvidiaIcd(work: string): {file: string; library: string} | undefined {
  const listed = run('ldconfig', ['-p']).out;
  for (const lib of ['libGLX_nvidia.so.0', 'libEGL_nvidia.so.0']) {
    if (!listed.includes(lib)) continue;
    const file = path.join(work, `nvidia_icd_${lib}.json`);
    fs.writeFileSync(file, JSON.stringify({file_format_version: '1.0.0', ICD: {library_path: lib, api_version: '1.3.0'}}));
    return {file, library: lib};
  }
  return undefined;
}

function packageVersion(name: string): string {
  try {
    const j: unknown = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8'));
    return isRecord(j) && typeof j.version === 'string' ? j.version : '?';
  } catch {
    return 'absent';
  }
}

function readFloats(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Top-1 agreement and the largest logit difference of one device against the CPU on the agreement batch. */
function agreement(work: string, device: CheckDevice, file: string): unknown {
  if (![`cpu-${file}`, `${device}-${file}`].every((f) => fs.existsSync(path.join(work, `${f}.f32`)))) return {reason: 'no logits from one of the two devices'};
  const a = readFloats(path.join(work, `cpu-${file}.f32`));
  const b = readFloats(path.join(work, `${device}-${file}.f32`));
  if (a.length !== b.length) return {reason: `${a.length} logits on the CPU, ${b.length} on ${device}`};
  const classes = a.length / AGREEMENT_BATCH;
  let same = 0;
  let maxDiff = 0;
  for (let i = 0; i < AGREEMENT_BATCH; i++) {
    let ia = 0;
    let ib = 0;
    for (let k = 0; k < classes; k++) {
      const j = i * classes + k;
      if (a[j] > a[i * classes + ia]) ia = k;
      if (b[j] > b[i * classes + ib]) ib = k;
      const d = Math.abs(a[j] - b[j]);
      maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, d);
    }
    if (ia === ib) same++;
  }
  return {top1Agreement: same / AGREEMENT_BATCH, maxLogitDiff: Number(maxDiff.toPrecision(3))};
}

/** The real CLI on the kit's LeNet-5 and MNIST: the lines that say which device and engine ran. */
function cliChecks(models: string, work: string, started: readonly CheckDevice[]): unknown {
  const cbp = (args: readonly string[]): {status: number | null; stdout: string; stderr: string} => {
    const timeout = left(300_000);
    if (timeout < 5000) return {status: null, stdout: '', stderr: 'not run: the check\'s --budget was spent'};
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args], {cwd: work, encoding: 'utf8', timeout});
    return {status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error !== undefined ? errorMessage(r.error) : '')};
  };
  const lines = (text: string, prefix: string): string[] => text.split('\n').filter((l) => l.startsWith(prefix));
  const evalOn = (device: string): unknown => {
    const r = cbp(['eval', '--onnx', path.join(models, 'lenet5_bin.onnx'), '--data', 'mnist', '--device', device, '--json']);
    if (r.status !== 0) return {status: r.status, error: r.stderr.replace(/[›»]/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 600)};
    const j: unknown = JSON.parse(r.stdout);
    const pick = isRecord(j) ? {device: j.device, top1: j.top1, images: j.images, imagesPerSecond: typeof j.imagesPerSecond === 'number' ? round(j.imagesPerSecond) : null} : {};
    return {...pick, log: lines(r.stderr, 'device:')};
  };
  const evals: Record<string, unknown> = {auto: evalOn('auto')};
  for (const d of started) evals[d] = evalOn(d);
  // --force: a --work folder given again holds the previous check's run, which cbp train would refuse to overwrite.
  const t = cbp(['train', '--model', 'lenet5', '--quant', 'bin', '--data', 'mnist', '--engine', 'onnxruntime', '--device', 'auto', '--limit', '512',
    '--test-limit', '500', '--epochs', '1', '--no-plot', '--out', path.join(work, 'train-run'), '--force']);
  const train = t.status === 0 ? {log: [...lines(t.stdout + t.stderr, 'engine:'), ...lines(t.stdout + t.stderr, 'device:')]} : {status: t.status, error: t.stderr.slice(-600)};
  return {evalLenet5Mnist: evals, trainAuto: train};
}

interface CheckOptions {
  readonly models: string;
  readonly work: string;
  readonly quick: boolean;
  /** Seconds the whole check may take. */
  readonly budget: number;
}

async function check(o: CheckOptions): Promise<Record<string, unknown>> {
  const t0 = Date.now();
  deadline = t0 + o.budget * 1000;
  const manifestFile = path.join(o.models, 'manifest.json');
  const manifest: unknown = fs.existsSync(manifestFile) ? JSON.parse(fs.readFileSync(manifestFile, 'utf8')) : null;
  const hashes: Record<string, unknown> = isRecord(manifest) && isRecord(manifest.sha256) ? manifest.sha256 : {};
  const made: Record<string, string> = {};
  for (const m of KIT_MODELS.filter((k) => !o.quick || !k.large)) {
    const file = path.join(o.models, m.file);
    if (fs.existsSync(file) || m.seeded === undefined) continue;
    log(`making ${m.file} from the library's initial weights`);
    const bytes = seededModel(m.seeded);
    fs.writeFileSync(file, bytes);
    const h = sha256(bytes);
    made[m.file] = hashes[m.file] === undefined ? `made here, sha256 ${h} (no manifest hash to compare)` : hashes[m.file] === h ? 'made here, identical to the build machine' : `made here, sha256 ${h} DIFFERS from the manifest's`;
  }
  const icds = icdFiles();
  const env = {...process.env};
  let vulkan = child(['--role', 'vulkan'], 30_000, env);
  const kitLib = path.join(ROOT, '..', 'lib');
  const loads = (a: ChildAnswer): boolean => a.ok && isRecord(a.value) && a.value.loads === true;
  let loader = loads(vulkan) ? 'the system\'s' : 'none';
  if (!loads(vulkan) && fs.existsSync(path.join(kitLib, 'libvulkan.so.1'))) {
    // The system has no Vulkan loader: the kit's own (Khronos', from Debian's libvulkan1) is found through the library path.
    env.LD_LIBRARY_PATH = [kitLib, env.LD_LIBRARY_PATH].filter((p) => p !== undefined && p !== '').join(':');
    vulkan = child(['--role', 'vulkan'], 30_000, env);
    loader = 'the kit\'s lib/libvulkan.so.1';
  }
  let icdNote: string | undefined;
  if (icds.length === 0 && env.VK_ICD_FILENAMES === undefined) {
    const own = nvidiaIcd(o.work);
    if (own !== undefined) {
      env.VK_ICD_FILENAMES = own.file;
      icdNote = `no ICD file; wrote ${own.file} naming ${own.library}`;
    }
  }
  log('probing execution providers');
  const ort = await import('onnxruntime-node');
  const listed = ort.listSupportedBackends();
  const create: Record<string, unknown> = {};
  for (const b of listed) {
    const a = child(['--role', 'provider', b.name, '--models', o.models], 120_000, env);
    create[b.name] = a.ok ? 'ok' : {reason: a.reason, ...(a.nativeLog ? {nativeLog: a.nativeLog} : {})};
  }
  // Evaluation on every device first, then training with the CPU last: where the budget runs short, the GPU rows
  // are the ones this check exists for.
  const quickArg = o.quick ? ['--quick'] : [];
  const evals = new Map<CheckDevice, ChildAnswer>();
  for (const d of CHECK_DEVICES) {
    log(`${d}: evaluating`);
    evals.set(d, child(['--role', 'eval', d, '--models', o.models, '--work', o.work, ...quickArg], 240_000, env));
  }
  const started = CHECK_DEVICES.filter((d) => evals.get(d)?.ok === true);
  const trains = new Map<CheckDevice, ChildAnswer>();
  for (const d of [...started.filter((x) => x !== 'cpu'), ...started.filter((x) => x === 'cpu')]) {
    log(`${d}: training steps`);
    trains.set(d, child(['--role', 'train', d, ...quickArg], 180_000, env));
  }
  const failure = (a: ChildAnswer | undefined): Record<string, unknown> => ({reason: a?.reason ?? 'not run', ...(a?.nativeLog ? {nativeLog: a.nativeLog} : {})});
  const devices: Record<string, unknown> = {};
  for (const d of CHECK_DEVICES) {
    const e = evals.get(d);
    if (e?.ok !== true) {
      devices[d] = {started: false, ...failure(e)};
      continue;
    }
    const ev = isRecord(e.value) ? e.value : {};
    const agree: Record<string, unknown> = {};
    if (d !== 'cpu') for (const m of KIT_MODELS.filter((k) => !o.quick || !k.large)) agree[m.file] = started.includes('cpu') ? agreement(o.work, d, m.file) : {reason: 'the CPU did not start'};
    const t = trains.get(d);
    devices[d] = {
      started: true,
      line: ev.line,
      ...(d !== 'cpu' ? {agreementWithCpu: agree} : {}),
      imagesPerSecond: ev.models,
      training: t?.ok === true && isRecord(t.value) ? t.value.steps : failure(t),
    };
  }
  log('the cbp CLI');
  const cli = cliChecks(o.models, o.work, started);
  return {
    check: 'cbp gpu kit',
    kit: manifest,
    host: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpu: os.cpus()[0]?.model ?? '?',
      cores: os.availableParallelism(),
      memoryGiB: round(os.totalmem() / 2 ** 30),
    },
    gpu: gpuInfo(),
    vulkan: {icdFiles: icds, ...(icdNote ? {icdNote} : {}), loader, libvulkan: vulkan.ok ? vulkan.value : {reason: vulkan.reason}},
    onnxruntime: {version: packageVersion('onnxruntime-node'), listed, create},
    ...(Object.keys(made).length > 0 ? {modelsMade: made} : {}),
    devices,
    cli,
    seconds: round((Date.now() - t0) / 1000),
    budgetSeconds: o.budget,
  };
}

function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : undefined;
}

function asDevice(v: string | undefined): CheckDevice {
  const d = CHECK_DEVICES.find((x) => x === v);
  if (d === undefined) throw new CbpError(`--role: device ${String(v)}, expected one of ${CHECK_DEVICES.join(', ')}`);
  return d;
}

async function main(args: readonly string[]): Promise<void> {
  const role = argValue(args, '--role');
  const quick = args.includes('--quick');
  const models = path.resolve(argValue(args, '--models') ?? path.join(ROOT, '..', 'models'));
  if (role !== undefined) {
    const sub = args[args.indexOf('--role') + 2];
    try {
      const work = argValue(args, '--work') ?? os.tmpdir();
      const value =
        role === 'eval' ? await evalRole(asDevice(sub), models, work, quick)
        : role === 'train' ? await trainRole(asDevice(sub), quick)
        : role === 'provider' ? await providerRole(sub, models)
        : vulkanRole();
      process.stdout.write(JSON.stringify({value}) + '\n');
    } catch (err) {
      process.stdout.write(JSON.stringify({error: errorMessage(err).split('\n')[0]}) + '\n');
    }
    // A provider's threads may hold the process open; the answer is written.
    process.exit(0);
  }
  if (!fs.existsSync(path.join(models, KIT_MODELS[0].file))) throw new CbpError(`--models ${models}: no ${KIT_MODELS[0].file}; give the kit's models folder`, 'NO_FILE');
  const given = argValue(args, '--work');
  const work = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-gpu-check-'));
  fs.mkdirSync(work, {recursive: true});
  const budget = Number(argValue(args, '--budget') ?? '480');
  if (!Number.isFinite(budget) || budget <= 0) throw new CbpError(`--budget ${budget}: expected a number of seconds > 0`);
  try {
    const result = await check({models, work, quick, budget});
    process.stdout.write(JSON.stringify(result, null, 1) + '\n');
  } finally {
    if (given === undefined) fs.rmSync(work, {recursive: true, force: true});
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    process.stdout.write(JSON.stringify({check: 'cbp gpu kit', error: errorMessage(err)}) + '\n');
    process.exit(1);
  });
}
