/** A small seeded generator (mulberry32) so shuffles and initial weights are reproducible from --seed alone. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Fisher–Yates permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

/** The generator for one purpose of one epoch, derived from the run's seed, so a resumed run draws the same. */
export function derivedRng(seed: number, purpose: number, epoch: number): Rng {
  return new Rng((seed * 0x9e3779b1 + purpose * 0x85ebca6b + epoch * 0xc2b2ae35) >>> 0);
}

/**
 * A dropout mask: `count` values, each 0 with probability p and 1/(1 − p) (float32) otherwise, drawn from
 * Rng(seed ⊕ (index + 1)·0x85ebca6b) for the `index`-th dropout layer of a step whose seed is `seed`.
 * test/fixtures/scripts/cbp_torch.py draws the same masks for PyTorch.
 */
export function dropoutMask(seed: number, index: number, p: number, out: Float32Array): Float32Array {
  const rng = new Rng((seed ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  const keep = Math.fround(1 / (1 - p));
  for (let i = 0; i < out.length; i++) out[i] = rng.next() < p ? 0 : keep;
  return out;
}

/** The seed of one training step's random draws (dropout masks), from the run's seed, the epoch and the step. */
export function stepSeed(seed: number, epoch: number, step: number): number {
  return (derivedRng(seed, 7, epoch).next() * 4294967296 + Math.imul(step, 0x9e3779b1)) >>> 0;
}
