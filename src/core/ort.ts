import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import {CbpError, errorMessage} from './errors';
import {checkChoice} from './checks';
import {sessionThreads} from './cores';
import {probeWebgpu} from './webgpu-probe';
import {shown} from './shown';

export const DEVICES = ['auto', 'cuda', 'webgpu', 'cpu'] as const;
export type DeviceChoice = (typeof DEVICES)[number];

export function checkDevice(value: string, flag = '--device'): DeviceChoice {
  return checkChoice(flag, value, DEVICES, 'device');
}

export interface OpenSession {
  readonly session: ort.InferenceSession;
  readonly device: 'cuda' | 'webgpu' | 'cpu';
  /** One line for the log: the device and why (`device: cpu, 2 threads (--device auto: CUDA not used: …)`). */
  readonly line: string;
}

/** The CUDA provider library onnxruntime-node would load on Linux, if it is absent. */
function missingCudaLibrary(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const binDir = path.join(pkg, 'bin');
  const candidates = fs.existsSync(binDir)
    ? fs.readdirSync(binDir).map((napi) => path.join(binDir, napi, 'linux', process.arch, 'libonnxruntime_providers_cuda.so'))
    : [];
  return candidates.some((f) => fs.existsSync(f)) ? undefined : 'libonnxruntime_providers_cuda.so';
}

/**
 * Per-session choices; every other option is ONNX Runtime's default, as in a deployer's session. memoryPattern:
 * false turns off ONNX Runtime's memory pattern (one block planned from the first run for every intermediate value):
 * for the training graph, whose values are many and short-lived, the planned block is far larger than what is alive
 * at once — ResNet-18 b32 peak RSS 2.66 → 1.86 GB, LeNet-5 b256 388 → 294 MB, step time unchanged
 * (docs/BENCHMARKS.md).
 */
export interface SessionTuning {
  readonly memoryPattern?: boolean;
}

/** ONNX Runtime's message, first line, at most 400 characters: it quotes node names from the model file. */
function firstLine(err: unknown): string {
  return shown(errorMessage(err).split('\n')[0], 400);
}

/**
 * Whether openSession(…, device) will run on the CPU provider without trying another first: `cpu`, or `auto` where
 * ONNX Runtime's CUDA provider is absent. (`auto` with CUDA installed tries CUDA first.)
 */
export function cpuWillRun(device: DeviceChoice): boolean {
  if (device === 'cpu') return true;
  if (device !== 'auto') return false;
  return !(ort.listSupportedBackends?.() ?? []).some((b) => b.name === 'cuda') || missingCudaLibrary() !== undefined;
}

/** The installed onnxruntime-node's version. */
export function runtimeVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common;
}

function olderThan(version: string, needed: string): boolean {
  const a = version.split('.').map(Number);
  const b = needed.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

/** ONNX Runtime's words when a file is newer than it: an IR version, opset, element type or operator version it lacks. */
const TOO_NEW = /IR version|opset|ONNX_TYPE|data type|Unsupported model|is not supported|No Op registered|Could not find an implementation/i;

/**
 * Why ONNX Runtime refused a model, in words a deployer can act on: when the file's model card says it needs a
 * newer runtime than the one installed, or the error names an opset, IR version or type, the message says the
 * runtime is too old and which export loads in older ones.
 */
function loadFailure(source: string, err: unknown, needs?: string): CbpError {
  const line = firstLine(err);
  const installed = runtimeVersion();
  const fallback = 'or export with --weights int8 (ONNX Runtime ≥ 1.6) or --weights portable (float32, opset 13; docs/DEPLOY.md)';
  if (needs !== undefined && olderThan(installed, needs)) {
    return new CbpError(`${source}: ONNX Runtime ${installed} is too old for this file, which needs ≥ ${needs} (its cbp.min_onnxruntime): upgrade onnxruntime, ${fallback} (${line})`, 'BAD_ONNX');
  }
  if (TOO_NEW.test(line)) {
    return new CbpError(`${source}: ONNX Runtime ${installed} cannot load the model, which uses an opset, IR version or type newer than this runtime knows (${line})${needs !== undefined ? `; the file says it needs ONNX Runtime ≥ ${needs}` : ''}: upgrade onnxruntime, ${fallback}`, 'BAD_ONNX');
  }
  return new CbpError(`${source}: ONNX Runtime cannot load the model: ${line}`, 'BAD_ONNX');
}

function webgpuFailure(reason: string): CbpError {
  return new CbpError(`--device webgpu: ONNX Runtime's WebGPU provider did not start (${reason.replace(/^.*?(Failed to get a WebGPU adapter)/, '$1')}); use --device cpu, or a machine with a GPU and its Vulkan driver`, 'NO_WEBGPU');
}

/**
 * An onnxruntime-node session on the device asked for. `auto` takes CUDA when its libraries load, else the CPU, and
 * says why in `line`; WebGPU only on request, as it is unmeasured against the CPU. An explicit device that cannot
 * start fails (NO_CUDA, NO_WEBGPU) rather than running somewhere else.
 */
export async function openSession(model: Uint8Array, device: string, source: string, needs?: string, tuning: SessionTuning = {}): Promise<OpenSession> {
  const choice = checkDevice(device);
  // ONNX Runtime's log (warnings that it drops an initializer a user's file leaves unused; an error line, in red,
  // naming its own rewritten node before the error itself) would interleave with cbp's output: fatal only. Its
  // errors still reach cbp as exceptions, which say what failed in cbp's words (runBatch, and the callers).
  // Threads set, not left to ONNX Runtime's default: see sessionThreads.
  const threads = sessionThreads();
  const options = {logSeverityLevel: 4 as const, intraOpNumThreads: threads, ...(tuning.memoryPattern === false ? {enableMemPattern: false} : {})};
  let fallback: string | undefined;
  // What `--device auto` says when it falls back to the CPU: nothing where no CUDA provider is installed (every CPU
  // machine; the advice to install one is for `--device cuda`), a word where one is installed and did not load.
  let autoNote = '';
  if (choice === 'webgpu') {
    // Only on request: onnxruntime-node bundles the provider (Dawn over Vulkan), but it is unmeasured here. Probed
    // first in a child process: where no GPU adapter exists, Dawn's native warnings stay out of cbp's output.
    const refused = await probeWebgpu();
    if (refused !== undefined) throw webgpuFailure(refused);
    try {
      const session = await ort.InferenceSession.create(model, {executionProviders: ['webgpu'], ...options});
      return {session, device: 'webgpu', line: 'device: webgpu (--device webgpu)'};
    } catch (err) {
      throw webgpuFailure(firstLine(err));
    }
  }
  if (choice === 'auto' || choice === 'cuda') {
    const supported = ort.listSupportedBackends?.() ?? [];
    const cuda = supported.find((b) => b.name === 'cuda');
    const missing = missingCudaLibrary();
    if (cuda === undefined) {
      fallback = 'this onnxruntime-node build has no CUDA execution provider';
    } else if (missing !== undefined) {
      // Checked first: trying to load it anyway makes onnxruntime print a native error of its own.
      fallback = `onnxruntime-node's CUDA provider is not installed (${missing} is missing; 'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js' on a machine with CUDA 12 installs it)`;
    } else {
      try {
        const session = await ort.InferenceSession.create(model, {executionProviders: ['cuda'], ...options});
        const why = choice === 'auto' ? "--device auto: onnxruntime-node's CUDA provider loaded" : '--device cuda';
        return {session, device: 'cuda', line: `device: cuda (${why})`};
      } catch (err) {
        fallback = `the CUDA execution provider did not load (${firstLine(err)}); install its binaries with 'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js' on a machine with CUDA 12`;
        autoNote = ': the CUDA provider is installed but did not load; --device cuda says why';
      }
    }
    if (choice === 'cuda') throw new CbpError(`--device cuda: CUDA is not available: ${fallback}`, 'NO_CUDA');
  }
  try {
    const session = await ort.InferenceSession.create(model, {executionProviders: ['cpu'], ...options});
    const why = `--device ${choice}${autoNote}`;
    return {session, device: 'cpu', line: `device: cpu, ${threads} thread${threads === 1 ? '' : 's'} (${why})`};
  } catch (err) {
    throw loadFailure(source, err, needs);
  }
}

/** A model's output for one batch: the values of its first output and their shape. */
export interface Logits {
  readonly data: Float32Array;
  readonly dims: number[];
}

/** Logits for one NCHW batch; a failure inside ONNX Runtime is a CbpError naming the model. */
export async function runBatch(session: ort.InferenceSession, x: Float32Array, dims: readonly number[], source = 'model'): Promise<Logits> {
  const input = new ort.Tensor('float32', x, [...dims]);
  let result: ort.InferenceSession.OnnxValueMapType;
  try {
    result = await session.run({[session.inputNames[0]]: input});
  } catch (err) {
    throw new CbpError(`${source}: ONNX Runtime failed running a batch of [${dims.join(', ')}]: ${firstLine(err)}`, 'ONNX_RUNTIME');
  } finally {
    input.dispose?.();
  }
  const out = result[session.outputNames[0]];
  const data = out.data;
  if (!(data instanceof Float32Array)) throw new CbpError(`${source}: model output '${session.outputNames[0]}' is ${out.type}, expected float32 logits`, 'BAD_ONNX');
  const copy = Float32Array.from(data);
  const outDims = out.dims.map(Number);
  out.dispose?.();
  return {data: copy, dims: outDims};
}
