/**
 * Which runtime takes which export: every `--weights` variant of an untrained LeNet-5 and ResNet-20 (MNIST-shaped;
 * ResNet-20 has no constrained dense layer, so its `fast` file is its `auto` graph)
 * loaded and run in onnxruntime-node, in onnxruntime-web's WebAssembly build (in Node), checked by the onnx
 * checker and loaded and run in OpenCV's DNN module (both through Debian's /usr/bin/python3 with python3-onnx and
 * python3-opencv; "not installed" where they are absent). Logits are compared with ONNX Runtime on the float32
 * export of the same weights (an `--activations int8` file: with onnxruntime-node's logits of that file). Prints a Markdown table; `--write` puts it into docs/DEPLOY.md between its markers.
 *
 *   npm run build && node dist/bench/compat.js --write
 */
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import {exportCheckpoint} from '../src/app/export';
import {openSession, runBatch, runtimeVersion} from '../src/core/ort';
import {errorMessage} from '../src/core/errors';
import {loadDataset, makeBatch} from '../src/data/index';
import type {WeightFormat} from '../onnx/writer';
import type {ModelName} from '../models/index';
import type {QuantOrNone} from '../models/spec';
import {untrainedRun} from '../test/untrained';
import {writeDocBlock} from './doc-block';

const ROOT = path.resolve(__dirname, '..', '..');
const PYTHON = '/usr/bin/python3';
const BATCH = 8;

const VARIANTS: readonly {readonly name: string; readonly quant: QuantOrNone; readonly weights: WeightFormat; readonly int8?: true}[] = [
  {name: 'auto, bin (1 bit)', quant: 'bin', weights: 'auto'},
  {name: 'auto, ter (INT2)', quant: 'ter', weights: 'auto'},
  {name: 'auto, 2bit (INT4)', quant: '2bit', weights: 'auto'},
  {name: 'int8, ter', quant: 'ter', weights: 'int8'},
  {name: 'float, bin', quant: 'bin', weights: 'float'},
  {name: 'portable, bin', quant: 'bin', weights: 'portable'},
  {name: 'fast, ter (MatMulNBits)', quant: 'ter', weights: 'fast'},
  {name: '--activations int8, bin (QDQ, 1 bit)', quant: 'bin', weights: 'auto', int8: true},
  {name: '--activations int8 --weights int8, ter (QDQ, INT8)', quant: 'ter', weights: 'int8', int8: true},
];
const MODELS: readonly ModelName[] = ['lenet5', 'resnet20'];

const PY = `
import sys, json
path, inputs, out = sys.argv[1], sys.argv[2], sys.argv[3]
res = {}
def short(e):
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    return ' '.join(lines)[:240]
try:
    import onnx
    res['onnx'] = onnx.__version__
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        res['checker'] = 'ok'
    except Exception as e:
        res['checker'] = short(e)
except ImportError:
    pass
try:
    import numpy as np, cv2
    res['opencv'] = cv2.__version__
    try:
        net = cv2.dnn.readNetFromONNX(path)
        shape = [int(v) for v in sys.argv[4].split(',')]
        net.setInput(np.fromfile(inputs, dtype=np.float32).reshape(shape))
        net.forward().astype(np.float32).tofile(out)
        res['cv'] = 'ok'
    except Exception as e:
        res['cv'] = short(e)
except ImportError:
    pass
print(json.dumps(res))
`;

interface PyResult {
  onnx?: string;
  checker?: string;
  opencv?: string;
  cv?: string;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  let worst = 0;
  let largest = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    largest = Math.max(largest, Math.abs(b[i]));
  }
  return worst <= 1e-3 * Math.max(1, largest);
}

const firstLine = (err: unknown): string => errorMessage(err).split('\n')[0].slice(0, 160);

async function ortNode(file: string, x: Float32Array, dims: number[], reference: Float32Array): Promise<string> {
  try {
    const opened = await openSession(fs.readFileSync(file), 'cpu', file);
    try {
      const y = (await runBatch(opened.session, x, dims)).data;
      return close(y, reference) ? 'yes' : 'runs, wrong logits';
    } finally {
      await opened.session.release();
    }
  } catch (err) {
    return `no: ${firstLine(err)}`;
  }
}

async function ortWasm(file: string, x: Float32Array, dims: number[], reference: Float32Array): Promise<string> {
  try {
    ortWeb.env.wasm.numThreads = 1;
    const session = await ortWeb.InferenceSession.create(fs.readFileSync(file));
    try {
      const out = await session.run({input: new ortWeb.Tensor('float32', x, dims)});
      const y = out.logits.data;
      return y instanceof Float32Array && close(y, reference) ? 'yes' : 'runs, wrong logits';
    } finally {
      await session.release();
    }
  } catch (err) {
    return `no: ${firstLine(err)}`;
  }
}

function python(file: string, x: Float32Array, dims: number[], tmp: string): {result: PyResult; cv?: Float32Array} {
  if (!fs.existsSync(PYTHON)) return {result: {}};
  const inputs = path.join(tmp, 'x.f32');
  const out = path.join(tmp, 'cv.f32');
  fs.writeFileSync(inputs, x);
  fs.rmSync(out, {force: true});
  const r = spawnSync(PYTHON, ['-c', PY, file, inputs, out, dims.join(',')], {encoding: 'utf8'});
  if (r.status !== 0) throw new Error(`${PYTHON} failed: ${r.stderr}`);
  const parsed: unknown = JSON.parse(r.stdout);
  const result: PyResult = typeof parsed === 'object' && parsed !== null ? Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)])) : {};
  return {result, ...(fs.existsSync(out) ? {cv: new Float32Array(Uint8Array.from(fs.readFileSync(out)).buffer)} : {})};
}

/** A refusal in a few words: the operator or type the runtime names, not its source paths. */
function brief(message: string): string {
  const op = /Node \[(\w+)@/.exec(message) ?? /No Op registered for (\w+) with domain_version of (\d+)/.exec(message);
  if (op !== null) return op[2] !== undefined ? `${op[1]} (opset ${op[2]}) unknown` : `${op[1]} not supported`;
  const cv = /error: \([^)]*\) (.*?) in function/.exec(message);
  if (cv !== null) return cv[1];
  return message.split(' ==>')[0].slice(0, 100);
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-compat-'));
  const mnist = loadDataset('mnist');
  const {x} = makeBatch(mnist, mnist.test, Array.from({length: BATCH}, (_, i) => i), 'NCHW');
  const dims = [BATCH, 1, 28, 28];
  let onnxVersion = 'not installed';
  let cvVersion = 'not installed';
  const rows: string[][] = [];
  for (const model of MODELS) {
    for (const v of VARIANTS) {
      const run = path.join(tmp, `${model}-${v.quant}`);
      if (!fs.existsSync(run)) untrainedRun(run, model, v.quant, 'mnist');
      const file = path.join(tmp, `${model}-${v.quant}-${v.weights}.onnx`);
      const reference = path.join(tmp, `${model}-${v.quant}-reference.onnx`);
      const e = await exportCheckpoint({checkpoint: run, format: 'onnx', out: file, weights: v.weights, verifyWith: 'float-onnx', verifyImages: 16, ...(v.int8 ? {activations: 'int8' as const} : {})});
      if (!fs.existsSync(reference)) await exportCheckpoint({checkpoint: run, format: 'onnx', out: reference, weights: 'float', verifyWith: 'float-onnx', verifyImages: 16});
      // An int8-activation file computes other logits than the float one: each runtime is held to onnxruntime-node's
      // logits of the same file (cbp's own check holds those to the float file's top-1).
      const opened = await openSession(fs.readFileSync(v.int8 ? file : reference), 'cpu', reference);
      const expected = (await runBatch(opened.session, x, dims)).data;
      await opened.session.release();
      const py = python(file, x, dims, tmp);
      if (py.result.onnx !== undefined) onnxVersion = py.result.onnx;
      if (py.result.opencv !== undefined) cvVersion = py.result.opencv;
      const checker = py.result.checker === undefined ? 'not installed' : py.result.checker === 'ok' ? 'yes' : `no: ${brief(py.result.checker)}`;
      const cv = py.result.cv === undefined ? 'not installed' : py.result.cv !== 'ok' ? `no: ${brief(py.result.cv)}` : py.cv !== undefined && close(py.cv, expected) ? 'yes' : 'runs, wrong logits';
      rows.push([model, v.name, String(e.opset), e.card.minOnnxRuntime, String(e.bytes), await ortNode(file, x, dims, expected), await ortWasm(file, x, dims, expected), checker, cv]);
      process.stderr.write(`${model} ${v.name}: done\n`);
    }
  }
  const header = ['model', '--weights, constraint', 'opset', 'card: min ORT', 'bytes', `onnxruntime-node ${runtimeVersion()}`, `onnxruntime-web ${ortWeb.env.versions.web ?? ortWeb.env.versions.common} (wasm, in Node)`, `onnx ${onnxVersion} checker`, `OpenCV ${cvVersion} DNN`];
  const table = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`).join('\n');
  const stamp = `Measured ${new Date().toISOString().slice(0, 10)} by \`node dist/bench/compat.js --write\` (Node ${process.version}, ${os.platform()} ${os.arch()}).`;
  const block = `${stamp}\n\n${table}\n`;
  process.stdout.write(block);
  if (process.argv.includes('--write')) {
    writeDocBlock(path.join(ROOT, 'docs', 'DEPLOY.md'), 'compat', block);
  }
  fs.rmSync(tmp, {recursive: true, force: true});
}

main().catch((err: unknown) => {
  process.stderr.write(`${errorMessage(err)}\n`);
  process.exit(1);
});
