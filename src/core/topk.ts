/** Counts top-1 and top-5 hits of a batch of logits (row-major [n, classes]) against labels. */
export function countHits(logits: Float32Array, labels: ArrayLike<number>, classes: number): {top1: number; top5: number; predictions: Int32Array} {
  const n = labels.length;
  const k = Math.min(5, classes);
  let top1 = 0;
  let top5 = 0;
  const predictions = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    const label = labels[i];
    const target = row[label];
    // The label is in the top k when fewer than k classes score strictly higher (ties favour the label's
    // lower index, as a stable sort would).
    let higher = 0;
    let best = 0;
    for (let j = 0; j < classes; j++) {
      if (row[j] > target || (row[j] === target && j < label)) higher++;
      if (row[j] > row[best]) best = j;
    }
    predictions[i] = best;
    if (higher === 0) top1++;
    if (higher < k) top5++;
  }
  return {top1, top5, predictions};
}
