import {SpecBuilder} from './builder';
import type {ModelSpec} from './spec';

/**
 * LeNet-5 in the Caffe proportions (20 and 50 filters, 500 hidden units) with batch normalisation after every
 * constrained layer, so the per-layer scale of a constrained layer never limits what the network can express.
 * conv1 (first) and fc2 (last) stay full precision, as CBP does.
 */
export function lenet5(numClasses = 10, inputShape: readonly [number, number, number] = [1, 28, 28]): ModelSpec {
  const b = new SpecBuilder('lenet5', inputShape);
  const [c, h, w] = inputShape;
  b.conv('conv1', c, 20, 5, {constrained: false, bias: false});
  b.bn('bn1', 20);
  b.relu('relu1');
  b.maxpool('pool1', 2, 2);
  b.conv('conv2', 20, 50, 5, {constrained: true});
  b.bn('bn2', 50);
  b.relu('relu2');
  b.maxpool('pool2', 2, 2);
  b.flatten('flatten');
  const side = (n: number): number => Math.floor((Math.floor((n - 4) / 2) - 4) / 2);
  b.dense('fc1', 50 * side(h) * side(w), 500, {constrained: true});
  b.bn('bn3', 500);
  b.relu('relu3');
  b.dense('fc2', 500, numClasses, {bias: true, constrained: false});
  return b.build(numClasses);
}

/** A three-layer perceptron: fc1 and fc3 full precision, fc2 constrained. */
export function mlp(numClasses = 10, inputShape: readonly [number, number, number] = [1, 28, 28]): ModelSpec {
  const b = new SpecBuilder('mlp', inputShape);
  const features = inputShape[0] * inputShape[1] * inputShape[2];
  b.flatten('flatten');
  b.dense('fc1', features, 512, {constrained: false});
  b.bn('bn1', 512);
  b.relu('relu1');
  b.dense('fc2', 512, 512, {constrained: true});
  b.bn('bn2', 512);
  b.relu('relu2');
  b.dense('fc3', 512, numClasses, {bias: true, constrained: false});
  return b.build(numClasses);
}
