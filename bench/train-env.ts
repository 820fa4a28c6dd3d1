/**
 * The environment `cbp train` gives its training process on Linux (bin/run.js): glibc's malloc on transparent huge
 * pages. Benchmarks that run the engine in a process of their own (bench/step.ts) start it with this, so that they
 * measure what a user's run gets; CBP_HUGEPAGES=0 leaves it off, as it does for `cbp train`.
 */
export function trainEnv(): NodeJS.ProcessEnv {
  if (process.platform !== 'linux' || process.env.CBP_HUGEPAGES === '0') return process.env;
  const tunables = [process.env.GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1'].filter((t) => t !== undefined && t !== '').join(':');
  return {...process.env, GLIBC_TUNABLES: tunables};
}
