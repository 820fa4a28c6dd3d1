/**
 * Counts top-1 and top-5 hits of a batch of logits (row-major [n, classes]) against labels. A row holding a NaN is
 * a miss (prediction −1) and counted in `nanRows`: NaN compares false with everything, so naively it would rank
 * the label first and score a broken model 100%.
 */
export function countHits(logits: Float32Array, labels: ArrayLike<number>, classes: number): {top1: number; top5: number; nanRows: number; predictions: Int32Array} {
  const n = labels.length;
  const k = Math.min(5, classes);
  let top1 = 0;
  let top5 = 0;
  let nanRows = 0;
  const predictions = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    if (row.some(Number.isNaN)) {
      nanRows++;
      predictions[i] = -1;
      continue;
    }
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
  return {top1, top5, nanRows, predictions};
}

/** Top-1/top-5 hits accumulated over batches: the one count behind every accuracy cbp reports. */
export class TopK {
  top1 = 0;
  top5 = 0;
  images = 0;
  nanRows = 0;
  readonly predictions: number[] = [];

  constructor(private readonly keepPredictions = false) {}

  /** Adds a batch of logits (row-major [n, classes], n = labels.length); `classes` defaults to what the batch holds. */
  add(logits: Float32Array, labels: ArrayLike<number>, classes = logits.length / labels.length): void {
    if (labels.length === 0) return;
    const hits = countHits(logits, labels, classes);
    this.top1 += hits.top1;
    this.top5 += hits.top5;
    this.nanRows += hits.nanRows;
    this.images += labels.length;
    if (this.keepPredictions) for (const p of hits.predictions) this.predictions.push(p);
  }

  accuracy(): {top1: number; top5: number; images: number} {
    return {top1: this.images ? this.top1 / this.images : 0, top5: this.images ? this.top5 / this.images : 0, images: this.images};
  }
}
