/**
 * The allocator environment of a benchmark's child processes. `cbp train` on Linux gives its training process glibc's
 * malloc on transparent huge pages when CBP_HUGEPAGES=1 (bin/run.js); a fair comparison gives the same to both
 * sides — cbp's process and PyTorch's — or to neither.
 *
 * `allocatorEnv(true)` sets `glibc.malloc.hugetlb=1` in GLIBC_TUNABLES (keeping any other tunable); `false` sets
 * `glibc.malloc.hugetlb=0` and CBP_HUGEPAGES=0. Either way the tunable is present, so bin/run.js starts no second
 * Node process for `cbp train`: both sides are one process each, with the allocator the harness chose.
 */
export function allocatorEnv(hugePages: boolean, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const others = (base.GLIBC_TUNABLES ?? '').split(':').filter((t) => t !== '' && !t.startsWith('glibc.malloc.hugetlb='));
  const env: NodeJS.ProcessEnv = {...base, GLIBC_TUNABLES: [...others, `glibc.malloc.hugetlb=${hugePages ? 1 : 0}`].join(':')};
  if (hugePages) delete env.CBP_HUGEPAGES;
  else env.CBP_HUGEPAGES = '0';
  return env;
}

/** What `cbp train` gives its training process: huge pages on Linux only with CBP_HUGEPAGES=1. */
export function trainEnv(): NodeJS.ProcessEnv {
  if (process.platform !== 'linux') return process.env;
  return allocatorEnv(process.env.CBP_HUGEPAGES === '1');
}
