import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {
  bestConfig,
  blasHandicap,
  configLabel,
  idleBetween,
  LIMITS,
  median,
  minimum,
  parseConfig,
  quietVerdict,
  ratios,
  rotate,
  roundOrder,
  runVerdict,
  spread,
  TORCH_CONFIGS,
} from '../../../bench/fair-rules';
import {fairOptions, table, unpublishable, type FairResult} from '../../../bench/fair';
import {allocatorEnv} from '../../../bench/train-env';

test('median and minimum: odd, even, unsorted, empty', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.equal(minimum([5, 2, 9]), 2);
  assert.deepEqual(spread([10, 30, 20, 50, 40]), {min: 10, median: 30});
});

test('ratios: of the medians, and within each round', () => {
  const r = ratios([100, 90, 110], [200, 300, 100]);
  assert.equal(r.ofMedians, 100 / 200);
  assert.deepEqual(r.perRound, [0.5, 0.3, 1.1]);
  assert.throws(() => ratios([1], [1, 2]), /1 cbp figures against 2/);
});

test('quiet: load ≤ 0.5 and ≥ 90% idle, each failure named', () => {
  assert.equal(quietVerdict(0.5, 0.9), undefined);
  assert.equal(quietVerdict(0.1, 0.99), undefined);
  assert.match(quietVerdict(0.51, 0.95) ?? '', /1-minute load average 0\.51 \(needs ≤ 0\.5\)/);
  assert.match(quietVerdict(0.2, 0.85) ?? '', /85% idle over 2 s \(needs ≥ 90%\)/);
  const both = quietVerdict(4, 0.02) ?? '';
  assert.match(both, /load average 4\.00/);
  assert.match(both, /2% idle/);
  assert.notEqual(quietVerdict(Number.NaN, 1), undefined, 'an unreadable load is not quiet');
});

test('idleBetween: idle and iowait over every field but guest; steal is busy', () => {
  const a = 'cpu  100 0 100 700 100 0 0 0 0 0';
  const b = 'cpu  110 0 110 780 100 0 0 0 0 0';
  assert.equal(idleBetween(a, b), 80 / 100);
  const stolen = 'cpu  110 0 110 720 100 0 0 60 0 0';
  assert.equal(idleBetween(a, stolen), 20 / 100);
});

test('a step run keeps its threads busy: 2 threads ≥ 1.8 cores, 1 thread ≥ 0.9', () => {
  const quiet = {foreignCores: 0.02};
  assert.equal(runVerdict('cbp', 'step', {cores: 1.85, threads: 2, ...quiet}), undefined);
  assert.match(runVerdict('cbp', 'step', {cores: 1.79, threads: 2, ...quiet}) ?? '', /cbp used 1\.79 cores over its timed steps \(2 threads: needs ≥ 1\.8\)/);
  assert.equal(runVerdict('PyTorch', 'step', {cores: 0.95, threads: 1, ...quiet}), undefined);
  assert.match(runVerdict('PyTorch', 'step', {cores: 0.85, threads: 1, ...quiet}) ?? '', /1 thread: needs ≥ 0\.9/);
  assert.notEqual(runVerdict('cbp', 'step', {cores: Number.NaN, threads: 2, ...quiet}), undefined);
});

test('any run is discarded when other processes shared the machine; a whole process is not held to its cores', () => {
  assert.equal(runVerdict('cbp', 'process', {cores: 1.1, threads: 2, foreignCores: 0.1}), undefined);
  assert.match(runVerdict('cbp', 'process', {cores: 1.1, threads: 2, foreignCores: 0.6}) ?? '', /other processes took 0\.60 cores while cbp ran/);
  const both = runVerdict('PyTorch', 'step', {cores: 1.0, threads: 2, foreignCores: 1.0}) ?? '';
  assert.match(both, /used 1\.00 cores/);
  assert.match(both, /other processes took 1\.00 cores/);
  assert.equal(LIMITS.maxForeignCores, 0.15);
});

test('the best configuration is the lowest median among those with kept runs', () => {
  const figures = new Map<string, number[]>([
    ['1 thread, contiguous', [200, 210, 190]],
    ['1 thread, channels_last', [180, 400, 185]],
    ['2 threads, contiguous', []],
    ['2 threads, channels_last', [150]],
  ]);
  assert.deepEqual(bestConfig(figures), {key: '2 threads, channels_last', median: 150});
  figures.set('2 threads, channels_last', []);
  assert.deepEqual(bestConfig(figures), {key: '1 thread, channels_last', median: 185});
  assert.equal(bestConfig(new Map([['x', []]])), undefined);
});

test('the four configurations, their labels and --torch-config', () => {
  assert.deepEqual(TORCH_CONFIGS.map(configLabel), ['1 thread, contiguous', '1 thread, channels_last', '2 threads, contiguous', '2 threads, channels_last']);
  assert.deepEqual(parseConfig('2,channels_last'), {threads: 2, memoryFormat: 'channels_last'});
  assert.throws(() => parseConfig('2,nhwc'), /--torch-config 2,nhwc: expected THREADS,FORMAT/);
  assert.throws(() => parseConfig('0,contiguous'), /--torch-config 0,contiguous/);
});

test('the sides alternate which goes first; calibration rotates', () => {
  assert.deepEqual([0, 1, 2, 3].map((r) => roundOrder(['cbp', 'torch'], r)[0]), ['cbp', 'torch', 'cbp', 'torch']);
  assert.deepEqual(rotate(['a', 'b', 'c', 'd'], 1), ['b', 'c', 'd', 'a']);
  assert.deepEqual(rotate(['a', 'b', 'c', 'd'], 4), ['a', 'b', 'c', 'd']);
});

test('the allocator environment: the same tunable for both sides, other tunables kept, CBP_HUGEPAGES follows', () => {
  const base = {GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0', CBP_HUGEPAGES: '0', PATH: '/bin'};
  const on = allocatorEnv(true, base);
  assert.equal(on.GLIBC_TUNABLES, 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1');
  assert.equal(on.CBP_HUGEPAGES, undefined);
  assert.equal(on.PATH, '/bin');
  const off = allocatorEnv(false, {});
  assert.equal(off.GLIBC_TUNABLES, 'glibc.malloc.hugetlb=0');
  assert.equal(off.CBP_HUGEPAGES, '0');
});

test('options: defaults publishable; quick, unchecked, few rounds, a given config or a loosened guard are not', () => {
  const o = fairOptions(['node', 'x'], {});
  assert.equal(o.rounds, 5);
  assert.equal(o.calibrationRounds, 2);
  assert.deepEqual(o.hugePages, [true]);
  assert.deepEqual(unpublishable(o), []);
  assert.deepEqual(fairOptions(['node', 'x', '--huge-pages', 'both'], {}).hugePages, [true, false]);
  assert.match(unpublishable(fairOptions(['node', 'x', '--no-quiet-check'], {})).join(), /UNCHECKED, not for publication/);
  assert.match(unpublishable(fairOptions(['node', 'x'], {BENCH_QUICK: '1'})).join(), /BENCH_QUICK=1/);
  assert.match(unpublishable(fairOptions(['node', 'x', '--rounds', '3'], {})).join(), /3 rounds \(publication needs ≥ 5\)/);
  assert.match(unpublishable(fairOptions(['node', 'x', '--torch-config', '1,contiguous'], {})).join(), /not calibrated/);
  assert.match(unpublishable(fairOptions(['node', 'x', '--max-load', '9'], {})).join(), /checks changed \(--max-load 9, --min-idle 0.9, --cores-per-thread 0.9\), not for publication/);
  assert.throws(() => fairOptions(['node', 'x', '--rounds', '0'], {}), /--rounds 0: expected a whole number ≥ 1/);
  assert.throws(() => fairOptions(['node', 'x', '--huge-pages', 'yes'], {}), /--huge-pages yes: expected on, off or both/);
});

test('a refused comparison prints no figure and no ratio', () => {
  const r: FairResult = {
    bench: 'fair', model: 'lenet5', title: 't', kind: 'step', unit: 'ms per step', hugePages: true, status: 'refused',
    publishable: false, notes: [], reason: 'machine not quiet', discarded: ['round 1: cbp used 1.00 cores'], warnings: [], machine: 'm',
    torchBlas: {libraries: [], gflops: 0},
  };
  const text = table(r);
  assert.match(text, /NO RATIO: machine not quiet/);
  assert.doesNotMatch(text, /×/);
});

test('PyTorch on the reference BLAS, or on any BLAS under 15 GFLOP/s, is not PyTorch at its best', () => {
  const openblas = '/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3';
  assert.equal(blasHandicap([openblas], 62), undefined);
  assert.match(blasHandicap(['/usr/lib/x86_64-linux-gnu/blas/libblas.so.3'], 4.1) ?? '', /the reference BLAS \(\/usr\/lib\/x86_64-linux-gnu\/blas\/libblas.so.3\), 4.1 GFLOP\/s .*libopenblas0-openmp/);
  // The reference library is named even where it happens to be fast enough, and a slow optimised one by its speed.
  assert.match(blasHandicap(['/usr/lib/x86_64-linux-gnu/blas/libblas.so.3'], 40) ?? '', /reference BLAS/);
  assert.match(blasHandicap([openblas], 3) ?? '', /a slow BLAS \(.*openblas-openmp.*\), 3.0 GFLOP\/s/);
  assert.match(blasHandicap([], 2) ?? '', /a slow BLAS \(none mapped\)/);
});
