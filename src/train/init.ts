import {Rng} from '../core/rng';
import {initialScale} from '../cbp/scale';
import {sizeOf, type Weights} from '../core/weights';
import {paramInfos, type ModelSpec, type QuantOrNone} from '../../models/spec';

/**
 * Fresh weights for a spec: He-normal convolutions (fan-out, as CBP's AlexNet), He-normal dense layers (fan-in),
 * zero biases, CBP scales mean |w|, batch-norm γ = 1, β = 0, running mean 0 and variance 1, PReLU slopes 0.25,
 * zero embeddings (position embeddings and class tokens, as timm's before its own initialisation), layer scales 1e-6
 * (torchvision's ConvNeXt).
 */
export function initialWeights(spec: ModelSpec, quant: QuantOrNone, seed: number): Weights {
  const rng = new Rng(seed);
  const out: Weights = new Map();
  for (const info of paramInfos(spec, quant)) {
    if (info.role === 'scale') {
      // CBP's scale: mean |w| of the layer's starting weights (the weight precedes its scale in paramInfos).
      out.set(info.key, {shape: [1], data: Float32Array.of(initialScale(out.get(`${info.node}.weight`)?.data ?? []))});
      continue;
    }
    const n = sizeOf(info.shape);
    const data = new Float32Array(n);
    if (info.role === 'weight') {
      const fan = info.shape.length === 4 ? info.shape[0] * info.shape[2] * info.shape[3] : info.shape[1];
      const std = Math.sqrt(2 / fan);
      for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    } else if (info.role === 'bn_weight' || info.role === 'running_var') {
      data.fill(1);
    } else if (info.role === 'slope') {
      // PyTorch's PReLU starts at 0.25.
      data.fill(0.25);
    } else if (info.role === 'layer_scale') {
      // torchvision's ConvNeXt starts its layer scales at 1e-6 (timm's LayerScale at 1e-5: either keeps a fresh block near the identity).
      data.fill(1e-6);
    }
    out.set(info.key, {shape: info.shape, data});
  }
  return out;
}
