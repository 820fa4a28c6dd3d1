/** The benchmarks' command-line flags and their one statistic. */

/** The value after flag `name` on the command line, or `fallback`. */
export function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** A whole-number flag of at least `min`; anything else stops the benchmark with the flag and its value named. */
export function count(name: string, fallback: number, min = 1): number {
  const v = Number(option(name, String(fallback)));
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} ${option(name, '')}: expected a whole number ≥ ${min}`);
  return v;
}

/** The median (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}
