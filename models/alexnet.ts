import {CbpError} from '../src/core/errors';
import {SpecBuilder} from './builder';
import type {ModelSpec} from './spec';

/**
 * AlexNet as CBP defines it: batch normalisation (eps 1e-4) after every layer but the last, no biases except in
 * the final classifier, the first convolution and the last dense layer in full precision. CBP's adaptive
 * average pool to 6×6 is the identity for 224×224 inputs, the only size this spec accepts. `base` scales every
 * width (64 in the published models; 4096 hidden units = 64 × base).
 */
export function alexnet(numClasses = 1000, inputShape: readonly [number, number, number] = [3, 224, 224], base = 64): ModelSpec {
  if (inputShape[1] !== 224 || inputShape[2] !== 224) {
    throw new CbpError(`model alexnet: input ${inputShape[1]}×${inputShape[2]} is not supported, expected 224×224`);
  }
  const w = (n: number): number => (n * base) / 64;
  const b = new SpecBuilder('alexnet', inputShape);
  b.conv('features.0', inputShape[0], w(64), 11, {stride: 4, padding: 2, constrained: false});
  b.bn('features.1', w(64), 1e-4);
  b.relu('features.2');
  b.maxpool('features.3', 3, 2);
  b.conv('features.4', w(64), w(192), 5, {padding: 2, constrained: true});
  b.bn('features.5', w(192), 1e-4);
  b.relu('features.6');
  b.maxpool('features.7', 3, 2);
  b.conv('features.8', w(192), w(384), 3, {padding: 1, constrained: true});
  b.bn('features.9', w(384), 1e-4);
  b.relu('features.10');
  b.conv('features.11', w(384), w(256), 3, {padding: 1, constrained: true});
  b.bn('features.12', w(256), 1e-4);
  b.relu('features.13');
  b.conv('features.14', w(256), w(256), 3, {padding: 1, constrained: true});
  b.bn('features.15', w(256), 1e-4);
  b.relu('features.16');
  b.maxpool('features.17', 3, 2);
  b.flatten('flatten');
  b.dense('classifier.0', w(256) * 36, w(4096), {constrained: true});
  b.bn('classifier.1', w(4096), 1e-4);
  b.relu('classifier.2');
  b.dense('classifier.3', w(4096), w(4096), {constrained: true});
  b.bn('classifier.4', w(4096), 1e-4);
  b.relu('classifier.5');
  b.dense('classifier.6', w(4096), numClasses, {bias: true, constrained: false});
  return b.build(numClasses);
}
