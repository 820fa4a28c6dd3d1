/**
 * The rules of bench/fair.ts, as pure functions (test/unit/bench/fair-rules.test.ts holds them): when the machine
 * counts as quiet, when a measurement is kept, which PyTorch configuration is its best, the order of the sides in a
 * round, and the statistics a comparison reports.
 */

export type MemoryFormat = 'contiguous' | 'channels_last';

/** How PyTorch runs: torch.set_num_threads (and OMP_NUM_THREADS) and the memory format of the model and batches. */
export interface TorchConfig {
  readonly threads: number;
  readonly memoryFormat: MemoryFormat;
}

/** The four configurations the harness tries: {1, 2 threads} × {contiguous, channels_last}. */
export const TORCH_CONFIGS: readonly TorchConfig[] = [
  {threads: 1, memoryFormat: 'contiguous'},
  {threads: 1, memoryFormat: 'channels_last'},
  {threads: 2, memoryFormat: 'contiguous'},
  {threads: 2, memoryFormat: 'channels_last'},
];

export function configLabel(c: TorchConfig): string {
  return `${c.threads} thread${c.threads === 1 ? '' : 's'}, ${c.memoryFormat}`;
}

/** `2,channels_last` (or `1,contiguous`, …) as --torch-config writes it. */
export function parseConfig(text: string): TorchConfig {
  const [t, f] = text.split(',');
  const threads = Number(t);
  if (!Number.isInteger(threads) || threads < 1 || (f !== 'contiguous' && f !== 'channels_last')) {
    throw new Error(`--torch-config ${text}: expected THREADS,FORMAT such as 2,channels_last or 1,contiguous`);
  }
  return {threads, memoryFormat: f};
}

/** The median (the mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function minimum(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : Math.min(...xs);
}

/** The thresholds of the quiet guard and of a kept measurement. */
export interface Limits {
  /** Highest 1-minute load average before a round (/proc/loadavg). */
  readonly maxLoad: number;
  /** Lowest idle fraction of all cores over a ~2 s sample of /proc/stat before a round. */
  readonly minIdle: number;
  /** A step side running N threads must use at least N × this many cores over its timed steps. */
  readonly coresPerThread: number;
  /** Highest average number of cores other processes (and the hypervisor's steal) may take while a side runs. */
  readonly maxForeignCores: number;
}

export const LIMITS: Limits = {maxLoad: 0.5, minIdle: 0.9, coresPerThread: 0.9, maxForeignCores: 0.15};

/** Why the machine is not quiet, or undefined when it is. */
export function quietVerdict(load1: number, idle: number, limits: Limits = LIMITS): string | undefined {
  const why: string[] = [];
  if (!(load1 <= limits.maxLoad)) why.push(`1-minute load average ${load1.toFixed(2)} (needs ≤ ${limits.maxLoad})`);
  if (!(idle >= limits.minIdle)) why.push(`${(idle * 100).toFixed(0)}% idle over 2 s (needs ≥ ${(limits.minIdle * 100).toFixed(0)}%)`);
  return why.length > 0 ? why.join(', ') : undefined;
}

/** The idle fraction between two readings of /proc/stat's first line (idle and iowait are idle; steal is busy). */
export function idleBetween(before: string, after: string): number {
  const parse = (line: string): {idle: number; total: number} => {
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    return {idle: v[3] + v[4], total: v.reduce((a, b) => a + b, 0)};
  };
  const a = parse(before);
  const b = parse(after);
  const total = b.total - a.total;
  return total > 0 ? (b.idle - a.idle) / total : Number.NaN;
}

/** What one side's run reports to the verdict. */
export interface RunFigures {
  /** Cores over the timed steps (a step measurement) or over the whole process. */
  readonly cores: number;
  readonly threads: number;
  /** Average cores the rest of the machine used during the run: machine busy CPU − this run's CPU, over its wall. */
  readonly foreignCores: number;
}

/**
 * Why a side's run is not kept, or undefined. A step measurement must keep its threads busy (N threads: at least
 * N × coresPerThread cores over the timed steps — a side that shares a core with another process falls below it);
 * a whole process (start-up, data loading, evaluation: not all parallel) is judged by what else ran beside it.
 */
export function runVerdict(label: string, kind: 'step' | 'process', f: RunFigures, limits: Limits = LIMITS): string | undefined {
  const why: string[] = [];
  const need = f.threads * limits.coresPerThread;
  if (kind === 'step' && !(f.cores >= need)) {
    why.push(`${label} used ${f.cores.toFixed(2)} cores over its timed steps (${f.threads} thread${f.threads === 1 ? '' : 's'}: needs ≥ ${need.toFixed(1)})`);
  }
  if (!(f.foreignCores <= limits.maxForeignCores)) {
    why.push(`other processes took ${f.foreignCores.toFixed(2)} cores while ${label} ran (needs ≤ ${limits.maxForeignCores})`);
  }
  return why.length > 0 ? why.join('; ') : undefined;
}

/** The configuration with the lowest median among those with at least one kept figure. */
export function bestConfig(figures: ReadonlyMap<string, readonly number[]>): {key: string; median: number} | undefined {
  let best: {key: string; median: number} | undefined;
  for (const [key, xs] of figures) {
    const m = median(xs);
    if (xs.length > 0 && (best === undefined || m < best.median)) best = {key, median: m};
  }
  return best;
}

/** The sides in the order of kept round `round` (0-based): as given in even rounds, reversed in odd ones. */
export function roundOrder<T>(sides: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...sides] : [...sides].reverse();
}

/** The sides in rotating order for calibration round `round`: each side goes first once every `sides.length`. */
export function rotate<T>(sides: readonly T[], round: number): T[] {
  const k = sides.length === 0 ? 0 : round % sides.length;
  return [...sides.slice(k), ...sides.slice(0, k)];
}

/** Minimum and median of a side's figures over the kept rounds. */
export function spread(xs: readonly number[]): {min: number; median: number} {
  return {min: minimum(xs), median: median(xs)};
}

/** The ratio of the medians and the ratio within each kept round (cbp's figure over PyTorch's). */
export function ratios(cbp: readonly number[], torch: readonly number[]): {ofMedians: number; perRound: number[]} {
  if (cbp.length !== torch.length) throw new Error(`internal: ${cbp.length} cbp figures against ${torch.length} PyTorch figures`);
  return {ofMedians: median(cbp) / median(torch), perRound: cbp.map((c, i) => c / torch[i])};
}

/** One thread of an optimised BLAS does 30–150 GFLOP/s on a 1024² product on these machines; the reference BLAS 2–6. */
export const MIN_BLAS_GFLOPS = 15;

/**
 * Why PyTorch's matrix products are not at their best, or undefined: the reference BLAS (Debian installs it in a
 * `blas/` directory, and python3-torch takes it unless an optimised one is installed) or any BLAS under
 * MIN_BLAS_GFLOPS on one thread.
 */
export function blasHandicap(libraries: readonly string[], gflops: number): string | undefined {
  const reference = libraries.find((l) => /\/blas\/libblas\.so/.test(l));
  if (reference === undefined && gflops >= MIN_BLAS_GFLOPS) return undefined;
  const which = reference !== undefined ? `the reference BLAS (${reference})` : `a slow BLAS (${libraries.join(', ') || 'none mapped'})`;
  return `PyTorch's matrix products run on ${which}, ${gflops.toFixed(1)} GFLOP/s on one thread: not PyTorch at its best (apt-get install libopenblas0-openmp)`;
}
