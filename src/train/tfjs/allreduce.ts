import {CbpError} from '../../core/errors';

/**
 * A blocking sum over threads that share one SharedArrayBuffer: each participant writes its vector into its own
 * slot, publishes a sequence number and waits until every other participant has published the same one, then sums
 * the slots in rank order, so every thread gets bit-identical totals. Slots are double-buffered: a participant can
 * only write call k + 2 after all have published k + 1, which each does only after reading call k.
 *
 * Used inside a training step (batch-norm statistics of the whole batch), where tfjs work is synchronous anyway.
 */
export class AllReduce {
  /** [published sequence number per rank..., abort flag]. */
  private readonly flags: Int32Array;
  private readonly data: Float32Array;
  private seq = 0;

  static bytes(ranks: number, maxLength: number): number {
    return 4 * (ranks + 1) + 4 * 2 * ranks * maxLength;
  }

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly rank: number,
    readonly ranks: number,
    readonly maxLength: number,
    /** How long one wait may last before the step is given up as hung. */
    private readonly timeoutMs = 600_000,
  ) {
    this.flags = new Int32Array(buffer, 0, ranks + 1);
    this.data = new Float32Array(buffer, 4 * (ranks + 1), 2 * ranks * maxLength);
  }

  /** Marks the group as failed and wakes everyone waiting, so no thread blocks forever on a dead peer. */
  abort(): void {
    Atomics.store(this.flags, this.ranks, 1);
    for (let r = 0; r < this.ranks; r++) Atomics.notify(this.flags, r);
  }

  get aborted(): boolean {
    return Atomics.load(this.flags, this.ranks) !== 0;
  }

  /** The element-wise sum of `local` over all ranks. */
  sum(local: Float32Array): Float32Array {
    if (local.length > this.maxLength) throw new CbpError(`internal: all-reduce of ${local.length} values, room for ${this.maxLength}`);
    const seq = ++this.seq;
    const slot = (r: number): number => ((seq & 1) * this.ranks + r) * this.maxLength;
    this.data.set(local, slot(this.rank));
    Atomics.store(this.flags, this.rank, seq);
    Atomics.notify(this.flags, this.rank);
    const started = Date.now();
    for (let r = 0; r < this.ranks; r++) {
      for (;;) {
        if (this.aborted) throw new CbpError('training stopped: another data-parallel worker failed (its error is reported separately)', 'WORKER_FAILED');
        const seen = Atomics.load(this.flags, r);
        if (seen >= seq) break;
        const left = this.timeoutMs - (Date.now() - started);
        if (left <= 0) throw new CbpError(`training stopped: data-parallel worker ${r} did not answer within ${this.timeoutMs / 1000} s`, 'WORKER_FAILED');
        Atomics.wait(this.flags, r, seen, Math.min(left, 1000));
      }
    }
    const out = new Float32Array(local.length);
    const acc = new Float64Array(local.length);
    for (let r = 0; r < this.ranks; r++) {
      const base = slot(r);
      for (let i = 0; i < local.length; i++) acc[i] += this.data[base + i];
    }
    out.set(acc);
    return out;
  }
}
