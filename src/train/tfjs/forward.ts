import {tf} from './tf';
import {selectBackend} from './backend';
import {float32Values} from './tensors';
import type {Weights} from '../../core/weights';
import type {ModelSpec, QuantOrNone} from '../../../models/spec';
import {Network} from './network';

/**
 * Logits of the tfjs training engine's forward pass (quantized weights, running batch-norm statistics) for a batch
 * of NCHW images: the independent side of an export's verification.
 */
export async function tfjsLogits(spec: ModelSpec, quant: QuantOrNone, weights: Weights, x: Float32Array, n: number, backend = 'auto'): Promise<Float32Array> {
  await selectBackend(backend);
  const [c, h, w] = spec.inputShape;
  const net = new Network(spec, quant, weights, 'forward');
  try {
    return tf.tidy(() => float32Values(net.forward(tf.transpose(tf.tensor4d(x, [n, c, h, w]), [0, 2, 3, 1]), false)));
  } finally {
    net.dispose();
  }
}
