import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../../src/core/errors';
import {Rng} from '../../src/core/rng';
import {evaluateOnnx} from '../../src/eval/evaluate';
import {mergeResults} from '../../src/eval/merge';
import {writeFileAtomic} from '../../src/core/atomic';
import {readBytes} from '../../src/core/read';
import {parsePth, stateDict} from '../../src/torch/load';
import {ALLOWED_GLOBALS, unpickle} from '../../src/torch/pickle';
import {niceTicks} from '../../src/app/svg';
import {cbp, errorText} from '../cli';
import {hostileCase, type Kind} from '../hostile/cases';
import {GLOBAL_CASES, dagCases, legacyDags, legitCalls, sharedStringKey} from '../hostile/dag';
import {endlessModel, linearModel} from '../hostile/onnx';
import {PickleWriter, stateDictPickle} from '../hostile/pickle';
import {pthZip} from '../hostile/zip';
import {tempDir} from '../helpers';

const tmp = tempDir('cbp-hostile-');
const write = (name: string, bytes: Uint8Array | string): string => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, bytes);
  return f;
};
const refuses = (fn: () => unknown, code: string, re: RegExp): void => {
  assert.throws(fn, (err: unknown) => err instanceof CbpError && err.code === code && re.test(err.message));
};

test('a memo-shared DAG (2^60 leaves as a tree) reads in well under a second, and a flood of shared merges is refused by the work budget', () => {
  const w = new PickleWriter().emptyDict().str('k');
  w.mark().int(1).list().put(0).op(0x30);
  for (let d = 1; d <= 60; d++) w.mark().get(d - 1).get(d - 1).list().put(d).op(0x30);
  w.get(60).op(0x73);
  const t0 = Date.now();
  const r = unpickle(w.stop(), 'dag.pkl', () => null);
  assert.ok(r.value instanceof Map);
  assert.ok(Date.now() - t0 < 1000);
  const flood = new PickleWriter().emptyDict().put(0).mark();
  for (let i = 0; i < 2000; i++) flood.str(`k${i}`).int(i);
  flood.setitems();
  for (let i = 0; i < 20_000; i++) flood.emptyDict().get(0).op(0x62).op(0x30);
  refuses(() => unpickle(flood.stop(), 'merge.pkl', () => null), 'OVER_BUDGET', /merge\.pkl: refused .*units of work/);
});

/** Runs `fn` on a file's bytes: the time it took and the error it ended with, if any. */
const timed = (fn: () => unknown): {ms: number; err?: unknown} => {
  const t0 = Date.now();
  try {
    fn();
    return {ms: Date.now() - t0};
  } catch (err) {
    return {ms: Date.now() - t0, err};
  }
};

test('every allowlisted global is called with the arguments torch.save and NumPy write, and those load', () => {
  assert.deepEqual(Object.keys(GLOBAL_CASES).sort(), [...ALLOWED_GLOBALS].sort(), 'each allowlisted global needs a case in test/hostile/dag.ts');
  for (const c of legitCalls()) {
    const pth = parsePth(c.bytes, `${c.name}.pth`);
    assert.equal(stateDict(pth).size, 1, c.name);
  }
  const probe = (name: string): unknown => (parsePth(legitCalls().find((c) => c.name === `legit-${name}`)?.bytes ?? new Uint8Array(0), 'p.pth').root as Map<string, unknown>).get('probe');
  assert.equal(probe('torch.device'), 'cuda:0');
  assert.deepEqual(probe('torch.Size'), [2, 3]);
  assert.deepEqual(probe('collections.OrderedDict'), new Map([['a', 1]]));
  assert.equal(probe('numpy.core.multiarray.scalar'), 0);
  assert.deepEqual(probe('_codecs.encode'), Uint8Array.of(0x61, 0x62, 0x63));
});

test('a 2^40 shared-reference DAG given to every allowlisted global, BUILD, persistent id and key is refused in bounded time and memory', () => {
  const peak0 = process.resourceUsage().maxRSS;
  const problems: string[] = [];
  const cases = dagCases();
  for (const [i, c] of cases.entries()) {
    const file = `dag-${i}.pth`;
    const r = timed(() => stateDict(parsePth(c.bytes, file)));
    if (r.ms > 2000) problems.push(`${c.name}: took ${r.ms} ms`);
    if (r.err === undefined) {
      if (c.expect === 'refuse') problems.push(`${c.name}: loaded, expected a refusal`);
    } else if (!(r.err instanceof CbpError) || !['BAD_PTH', 'OVER_BUDGET'].includes(r.err.code) || !r.err.message.startsWith(`${file}: `) || r.err.message.length > 2000) {
      problems.push(`${c.name}: ${r.err instanceof Error ? `${r.err.name}: ${r.err.message.slice(0, 200)}` : String(r.err)}`);
    }
  }
  for (const c of legacyDags()) {
    const r = timed(() => stateDict(parsePth(c.bytes, 'legacy-dag.pth')));
    if (r.ms > 2000 || !(r.err instanceof CbpError) || !r.err.message.startsWith('legacy-dag.pth: ')) problems.push(`${c.name}: ${r.ms} ms, ${String(r.err)}`);
  }
  assert.deepEqual(problems, [], `${problems.length} of ${cases.length} cases:\n${problems.join('\n')}`);
  assert.ok(cases.length > 150);
  // The peak memory of the whole process grew by less than 1 GB (maxRSS is in KB).
  assert.ok(process.resourceUsage().maxRSS - peak0 < 1024 * 1024, `peak RSS grew by ${(process.resourceUsage().maxRSS - peak0) >> 10} MB`);
});

test('a tuple key naming one 8 MB string 60 times is charged as the 480 MB it would join to, and refused', () => {
  const r = timed(() => stateDict(parsePth(sharedStringKey(), 'key.pth')));
  assert.ok(r.ms < 2000, `${r.ms} ms`);
  assert.ok(r.err instanceof CbpError && r.err.code === 'OVER_BUDGET' && /^key\.pth: refused .*bytes/.test(r.err.message), String(r.err));
});

test('nesting a million levels deep and a flood of marks are clean errors, never a stack overflow or gigabytes', () => {
  const deep = new PickleWriter().none().raw(Buffer.alloc(1_000_000, 0x85)).stop();
  const r = unpickle(deep, 'deep.pkl', () => null);
  assert.ok(r.value !== null);
  refuses(() => stateDict(parsePth(pthZip(new PickleWriter().emptyDict().str('model_state_dict').none().raw(Buffer.alloc(500_000, 0x85)).op(0x73).stop(), {}), 'deep.pth')), 'BAD_PTH', /deep\.pth: the state dict holds no tensors/);
  const marks = new PickleWriter();
  for (let i = 0; i < 900; i++) marks.mark().raw(Buffer.alloc(2000, 0x4e));
  refuses(() => unpickle(marks.stop(), 'marks.pkl', () => null), 'OVER_BUDGET', /marks\.pkl: .*more than 1000000 values on the stack and in its marked frames/);
});

test('tensor records that lie (negative or huge strides, offsets past the storage, 200,000 dims, legacy floats) are BAD_PTH naming the file', () => {
  const f = (n: number): Uint8Array => new Uint8Array(new Float32Array(n).buffer);
  const cases: [object, RegExp][] = [
    [{size: [4], stride: [-1], offset: 3}, /stride -1 in dimension 0/],
    [{size: [2, 2], stride: [2 ** 40, 1], offset: 0}, /stride 1099511627776 .*past its storage/],
    [{size: [4], stride: [1], offset: 5}, /storage offset 5, expected an integer in \[0, 4\]/],
    [{size: [0], stride: [1], offset: 2 ** 31 - 1}, /storage offset 2147483647/],
    [{size: new Array<number>(200_000).fill(1), stride: [1], offset: 0}, /tensor size has 200000 entries, expected at most 64/],
  ];
  for (const [t, re] of cases) {
    const pkl = stateDictPickle([{key: 'w', storage: '0', numel: 4, offset: 0, size: [4], stride: [1], ...t}]);
    refuses(() => stateDict(parsePth(pthZip(pkl, {'0': f(4)}), 'lie.pth')), 'BAD_PTH', new RegExp(`lie\\.pth: .*${re.source}`));
  }
  for (const v of [NaN, 1.5e21]) {
    const legacy = Buffer.concat([new PickleWriter().float(v).stop(), new PickleWriter().int(1001).stop()]);
    refuses(() => parsePth(legacy, 'legacy.pth'), 'BAD_PTH', /legacy\.pth: not a PyTorch checkpoint \(magic number/);
  }
});

test('many views of one storage share it: contiguous views are never copied, strided ones only within the budget', () => {
  const side = 256;
  const views = Array.from({length: 400}, (_, i) => ({key: `v${i}`, storage: '0', numel: side * side, offset: 0, size: [side * side], stride: [1]}));
  const sd = stateDict(parsePth(pthZip(stateDictPickle(views), {'0': new Uint8Array(side * side * 4)}), 'views.pth'));
  assert.equal(sd.get('v0')?.data.buffer, sd.get('v399')?.data.buffer);
  const strided = views.map((v) => ({...v, size: [side, side], stride: [1, side]}));
  refuses(() => stateDict(parsePth(pthZip(stateDictPickle(strided), {'0': new Uint8Array(side * side * 4)}), 'views.pth')), 'OVER_BUDGET', /views\.pth: tensor 'v\d+' would bring the values copied/);
});

test('a deflated entry that promises 4 GB from a few KB is refused before inflating', () => {
  const pkl = stateDictPickle([{key: 'w', storage: '0', numel: 4, offset: 0, size: [4], stride: [1]}]);
  const t0 = Date.now();
  refuses(() => stateDict(parsePth(pthZip(pkl, {'0': new Uint8Array(16)}, {deflate: true, claimSize: 2 ** 32 - 1}), 'bomb.pth')), 'BAD_PTH', /bomb\.pth: entry 'archive\/data\/0': inflates to 4294967295 bytes by its header/);
  refuses(() => stateDict(parsePth(pthZip(pkl, {'0': new Uint8Array(16)}, {deflate: true, claimSize: 900_000}), 'bomb.pth')), 'BAD_PTH', /more than deflate can expand/);
  assert.ok(Date.now() - t0 < 500);
});

test('a FIFO or a symlink to /dev/zero where a file belongs is refused at once, not read', () => {
  const fifo = path.join(tmp, 'weights.fifo');
  execFileSync('mkfifo', [fifo]);
  refuses(() => readBytes(fifo), 'READ_FAILED', /weights\.fifo: a FIFO, expected a regular file/);
  const zero = path.join(tmp, 'zero.JPEG');
  fs.symlinkSync('/dev/zero', zero);
  refuses(() => readBytes(zero), 'READ_FAILED', /zero\.JPEG: a device, expected a regular file/);
});

test('an atomic write never follows a link planted beside its target, and leaves nothing behind', () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
  const victim = write('victim.txt', 'untouched');
  // Every name the old scheme could use: the temporary name is no longer predictable, and 'wx' never follows.
  for (let pid = process.pid - 2; pid <= process.pid + 2; pid++) fs.symlinkSync(victim, path.join(dir, `.state.json.${pid}.tmp`));
  writeFileAtomic(path.join(dir, 'state.json'), '{}');
  assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched');
  assert.equal(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'), '{}');
  assert.equal(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp') && !fs.lstatSync(path.join(dir, n)).isSymbolicLink()).length, 0);
});

test('cbp eval refuses a model whose output count does not match the classes, and counts NaN logits as misses', async () => {
  for (const classes of [1, 3]) {
    const f = write(`linear${classes}.onnx`, linearModel(classes, 0.01));
    await assert.rejects(evaluateOnnx({onnx: f, data: 'mnist', device: 'cpu', batchSize: 8, limit: 16}), /has \d+ outputs per image, data 'mnist' has 10 classes/);
  }
  const lines: string[] = [];
  const nan = await evaluateOnnx({onnx: write('nan.onnx', linearModel(10, NaN)), data: 'mnist', device: 'cpu', batchSize: 8, limit: 16, log: (l) => lines.push(l)});
  assert.equal(nan.top1, 0);
  assert.equal(nan.top5, 0);
  assert.equal(nan.nanRows, 16);
  assert.ok(lines.some((l) => /NaN logits; such images count as misses/.test(l)));
});

test('cbp eval --timeout stops a model that never terminates with a TIMEOUT naming it', async () => {
  const f = write('endless.onnx', endlessModel());
  const t0 = Date.now();
  await assert.rejects(evaluateOnnx({onnx: f, data: 'mnist', device: 'cpu', batchSize: 4, limit: 4, timeout: 2}), (err: unknown) => err instanceof CbpError && err.code === 'TIMEOUT' && err.message.includes('endless.onnx'));
  assert.ok(Date.now() - t0 < 15_000);
});

test('cbp eval --merge refuses lying counts and a shard given twice', () => {
  const base = {model: 'm.onnx', data: 'mnist', top1: 0.5, top5: 0.9, images: 10, top1Hits: 5, top5Hits: 9, skipped: 0, imagesPerSecond: 100, device: 'cpu', shard: '1/2'};
  const one = write('one.json', JSON.stringify(base));
  const two = write('two.json', JSON.stringify({...base, shard: '2/2'}));
  assert.equal(mergeResults([one, two]).images, 20);
  const lies: [object, RegExp][] = [
    [{images: -5}, /'images' is -5, expected an integer ≥ 1/],
    [{images: 0}, /'images' is 0/],
    [{top1Hits: 503}, /top1Hits 503, top5Hits 9 of 10 images/],
    [{top5Hits: '9'}, /'top5Hits' is "9"/],
    [{imagesPerSecond: 0}, /'imagesPerSecond' is 0/],
  ];
  for (const [change, re] of lies) {
    const bad = write('bad.json', JSON.stringify({...base, ...change}));
    refuses(() => mergeResults([bad]), 'BAD_RESULT', new RegExp(`--merge .*bad\\.json: ${re.source}`));
  }
  refuses(() => mergeResults([one, one, one]), 'BAD_RESULT', /one\.json: shard 1\/2 was already given/);
});

test('plot axes stay finite for values of 1e17 and beyond', () => {
  assert.ok(niceTicks(1e17, 1e17 + 64).length <= 21);
  assert.deepEqual(niceTicks(NaN, 1), []);
});

test('no raw JavaScript error or stack reaches the terminal: every hostile file ends with exit 2 and a message naming it', () => {
  const kinds: [Kind, number, (f: string) => string[]][] = [
    ['pth', 8, (f) => ['import', f, '--model', 'lenet5', '--quant', 'ter', '--out', path.join(tmp, 'imported')]],
    ['onnx', 5, (f) => ['info', f]],
  ];
  let ran = 0;
  for (const [kind, n, args] of kinds) {
    const rng = new Rng(77);
    for (let i = 0; i < n; i++) {
      const c = hostileCase(kind, rng);
      const f = write(`cli-${kind}-${i}.${kind}`, c.bytes);
      const r = cbp(args(f), 60_000);
      if (r.status === 0) continue;
      ran++;
      assert.equal(r.status, 2, `${c.name}: exit ${r.status}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, `${c.name}: a stack trace reached the terminal\n${r.stderr}`);
      assert.match(errorText(r.stderr), new RegExp(path.basename(f).replace('.', '\\.')), `${c.name}: the error does not name the file`);
    }
  }
  assert.ok(ran >= 6);
  const dir = path.join(tmp, 'ckpt');
  fs.mkdirSync(dir);
  fs.symlinkSync('/dev/zero', path.join(dir, 'weights.safetensors'));
  for (const cmd of [['info', dir], ['plot', dir], ['export', '--checkpoint', dir]]) {
    const r = cbp(cmd, 60_000);
    assert.equal(r.status, 2, `${cmd.join(' ')}: ${r.stderr}`);
    assert.match(errorText(r.stderr), /weights\.safetensors: a device, expected a regular file/);
  }
});
