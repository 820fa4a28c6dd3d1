import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** CPU numbers of a Linux cpulist ("0-3,8,10-11"), or undefined when it is not one. */
export function parseCpuList(text: string): number[] | undefined {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (m === null) return undefined;
    const [from, to] = [Number(m[1]), Number(m[2] ?? m[1])];
    if (to < from || to - from > 65536) return undefined;
    for (let c = from; c <= to; c++) cpus.push(c);
  }
  return cpus;
}

/** A kernel file's text, trimmed, or undefined where it cannot be read. */
function readKernelFile(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Physical cores of this Linux machine from sysfs (`root` is /sys/devices/system/cpu): the online CPUs grouped by
 * the hardware threads that share a core. Undefined where sysfs does not say (another OS, a container without it).
 */
export function physicalCores(root = '/sys/devices/system/cpu'): number | undefined {
  const list = (file: string): number[] | undefined => {
    const text = readKernelFile(path.join(root, file));
    return text === undefined ? undefined : parseCpuList(text);
  };
  const online = list('online');
  if (online === undefined || online.length === 0) return undefined;
  const cores = new Set<string>();
  for (const cpu of online) {
    const siblings = list(path.join(`cpu${cpu}`, 'topology', 'thread_siblings_list'));
    if (siblings === undefined) return undefined;
    cores.add(siblings.join(','));
  }
  return cores.size;
}

/**
 * The CPUs a container's CPU quota allows (quota / period, rounded up), from cgroup v2's cpu.max or cgroup v1's
 * cpu.cfs_quota_us and cpu.cfs_period_us under `root` (/sys/fs/cgroup, the container's own cgroup where it has a
 * cgroup namespace); undefined when there is no quota or no file says.
 */
export function cgroupCpus(root = '/sys/fs/cgroup'): number | undefined {
  const read = (file: string): string | undefined => readKernelFile(path.join(root, file));
  let quota: number;
  let period: number;
  const v2 = read('cpu.max');
  if (v2 !== undefined) {
    const m = /^(max|\d+)\s+(\d+)$/.exec(v2);
    if (m === null || m[1] === 'max') return undefined;
    [quota, period] = [Number(m[1]), Number(m[2])];
  } else {
    const [q, p] = [read('cpu/cpu.cfs_quota_us'), read('cpu/cpu.cfs_period_us')];
    if (q === undefined || p === undefined || !/^-?\d+$/.test(q) || !/^\d+$/.test(p)) return undefined;
    [quota, period] = [Number(q), Number(p)];
  }
  return quota > 0 && period > 0 ? Math.max(1, Math.ceil(quota / period)) : undefined;
}

let machineThreads: number | undefined;

/**
 * Intra-op threads for cbp's own ONNX Runtime sessions: one per physical core, at most the CPUs this process may
 * run on (its affinity, and a container's CPU quota: more threads than the quota allows wait on each other). ONNX
 * Runtime's default means the same, but where its CPU probe fails it takes half the logical CPUs — one thread on a
 * 2-core virtual machine measured here, where a ResNet-18 training step then took 3.4 s instead of 2.2 s
 * (docs/BENCHMARKS.md). This machine's answer is read once per process; the roots are for tests.
 */
export function sessionThreads(cpuRoot?: string, cgroupRoot?: string): number {
  const count = (): number => {
    const usable = Math.min(os.availableParallelism(), cgroupCpus(cgroupRoot) ?? Infinity);
    return Math.max(1, Math.min(usable, physicalCores(cpuRoot) ?? usable));
  };
  if (cpuRoot !== undefined || cgroupRoot !== undefined) return count();
  return (machineThreads ??= count());
}
