/** Levenshtein distance: insertions, deletions and substitutions, each costing 1. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({length: b.length + 1}, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length];
}

/**
 * The name among `names` nearest to `given`, when it is near enough to be a slip (a third of its letters, at least
 * two): --epoch → --epochs, --batchsize → --batch-size; nothing for a flag that is simply not there.
 */
export function nearest(given: string, names: readonly string[]): string | undefined {
  let best: {name: string; d: number} | undefined;
  for (const name of names) {
    const d = editDistance(given, name);
    if (best === undefined || d < best.d) best = {name, d};
  }
  return best !== undefined && best.d <= Math.max(2, Math.floor(given.length / 3)) ? best.name : undefined;
}
