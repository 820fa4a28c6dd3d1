import {after, test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {cgroupCpus, parseCpuList, physicalCores, sessionThreads} from '../../../src/core/cores';
import {tempDir} from '../../helpers';

const made: string[] = [];
after(() => {
  for (const root of made) fs.rmSync(root, {recursive: true, force: true});
});

/** A sysfs cpu folder: `online` and, per CPU, its thread_siblings_list. */
function sysfs(online: string, siblings: Record<number, string>): string {
  const root = tempDir('cbp-cpu-');
  made.push(root);
  fs.writeFileSync(path.join(root, 'online'), `${online}\n`);
  for (const [cpu, list] of Object.entries(siblings)) {
    fs.mkdirSync(path.join(root, `cpu${cpu}`, 'topology'), {recursive: true});
    fs.writeFileSync(path.join(root, `cpu${cpu}`, 'topology', 'thread_siblings_list'), `${list}\n`);
  }
  return root;
}

test('cores: cpu lists as Linux writes them', () => {
  assert.deepEqual(parseCpuList('0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11]);
  assert.deepEqual(parseCpuList('5'), [5]);
  for (const bad of ['', '3-1', 'a', '0-', '1,,2', '0-99999999']) assert.equal(parseCpuList(bad), undefined, bad);
});

test('cores: hardware threads of one core count once; offline CPUs are left out', () => {
  // 8 logical CPUs, two threads per core (0 and 4 share a core, …): 4 cores.
  assert.equal(physicalCores(sysfs('0-7', {0: '0,4', 1: '1,5', 2: '2,6', 3: '3,7', 4: '0,4', 5: '1,5', 6: '2,6', 7: '3,7'})), 4);
  // One thread per core, CPU 1 offline.
  assert.equal(physicalCores(sysfs('0,2-3', {0: '0', 2: '2', 3: '3'})), 3);
  // sysfs that does not say: a CPU without its topology, a list that is not one, no folder at all.
  for (const root of [sysfs('0-1', {0: '0'}), sysfs('0-1', {0: '0', 1: 'x'}), path.join(os.tmpdir(), 'cbp-no-such-sysfs')]) assert.equal(physicalCores(root), undefined, root);
});

test('cores: sessions get one thread per physical core, never more than the CPUs this process may use', () => {
  const usable = os.availableParallelism();
  const many = sysfs('0-255', Object.fromEntries(Array.from({length: 256}, (_, i) => [i, String(i)])));
  assert.equal(sessionThreads(many), usable);
  assert.equal(sessionThreads(sysfs('0', {0: '0'})), 1);
  assert.equal(sessionThreads(path.join(os.tmpdir(), 'cbp-no-such-sysfs')), usable);
});

/** A cgroup folder holding `files` (path → text). */
function cgroup(files: Record<string, string>): string {
  const root = tempDir('cbp-cgroup-');
  made.push(root);
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), {recursive: true});
    fs.writeFileSync(path.join(root, file), `${text}\n`);
  }
  return root;
}

test("cores: a container's CPU quota caps the threads (cgroup v2 and v1); no quota leaves them", () => {
  assert.equal(cgroupCpus(cgroup({'cpu.max': '200000 100000'})), 2);
  assert.equal(cgroupCpus(cgroup({'cpu.max': '150000 100000'})), 2);
  assert.equal(cgroupCpus(cgroup({'cpu.max': '50000 100000'})), 1);
  assert.equal(cgroupCpus(cgroup({'cpu.max': 'max 100000'})), undefined);
  assert.equal(cgroupCpus(cgroup({'cpu/cpu.cfs_quota_us': '300000', 'cpu/cpu.cfs_period_us': '100000'})), 3);
  assert.equal(cgroupCpus(cgroup({'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000'})), undefined);
  assert.equal(cgroupCpus(cgroup({'cpu.max': 'garbage'})), undefined);
  assert.equal(cgroupCpus(cgroup({})), undefined);
  // Sixteen physical cores, a quota of one CPU: one thread.
  const cores = sysfs('0-15', Object.fromEntries(Array.from({length: 16}, (_, i) => [i, String(i)])));
  assert.equal(sessionThreads(cores, cgroup({'cpu.max': '100000 100000'})), 1);
  assert.equal(sessionThreads(cores, cgroup({})), Math.min(16, os.availableParallelism()));
});
