/**
 * The CPU's share of a ResNet-18-sized CBP step, alone: `node dist/bench/update-pass.js [QUANT] [WEIGHTS]`.
 * Times, on one thread, the fused update pass (c(w), λ⊙dc/dw, the reference's update and the next quantizer) and
 * the constraint term on arrays (Σ λ⊙c(w) and its gradient, the tfjs engine's form), over WEIGHTS latent weights
 * (default 11 M, ResNet-18's constrained ones) with random weights, gradients and multipliers; median of 9 each,
 * alternating the two. Stop other work first: this measures one core.
 */
import {fusedUpdate} from '../src/cbp/fused';
import {constraintOnArrays} from '../src/cbp/constraint-arrays';
import {LEVELS} from '../src/cbp/levels';
import {checkQuant} from '../src/cbp/registry';
import {Rng} from '../src/core/rng';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function main(): void {
  const quant = checkQuant(process.argv[2] ?? 'ter');
  if (quant === 'none') throw new Error('update-pass: give a constraint (bin, ter, 1bit, 2bit)');
  const n = Number(process.argv[3] ?? 11_000_000);
  const rng = new Rng(1);
  const scale = Math.fround(0.05);
  const w = Float32Array.from({length: n}, () => rng.normal() * scale);
  const grad = Float32Array.from({length: n}, () => rng.normal() * 0.01);
  const lambda = Float32Array.from({length: n}, () => rng.next() * 1e-3);
  const momentum = new Float32Array(n);
  const quantized = new Float32Array(n);
  const layer = {scale, levels: LEVELS[quant], lambda, quantized};
  const fused: number[] = [];
  const arrays: number[] = [];
  for (let k = 0; k < 9; k++) {
    let t = performance.now();
    fusedUpdate(w, grad, momentum, {lr: 1e-3, weightDecay: 1e-4, clamp: true}, layer, 0.9);
    fused.push(performance.now() - t);
    t = performance.now();
    constraintOnArrays(w, lambda, scale, LEVELS[quant], 0.9);
    arrays.push(performance.now() - t);
  }
  process.stdout.write(`${quant}, ${n} weights, one thread, median of 9: fused update pass ${median(fused).toFixed(1)} ms, constraint term on arrays ${median(arrays).toFixed(1)} ms\n`);
}

main();
