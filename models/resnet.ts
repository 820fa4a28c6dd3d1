import {SpecBuilder} from './builder';
import type {ModelSpec} from './spec';

type Block = 'basic' | 'bottleneck';

/**
 * A basic residual block named as torchvision names it: two constrained 3×3 convolutions with batch norm, and a
 * constrained 1×1 downsample convolution on the shortcut when the shape changes. Returns the block's output.
 */
function basicBlock(b: SpecBuilder, p: string, inplanes: number, planes: number, stride: number): string {
  const input = b.current;
  b.conv(`${p}.conv1`, inplanes, planes, 3, {stride, padding: 1, constrained: true});
  b.bn(`${p}.bn1`, planes);
  b.relu(`${p}.relu1`);
  b.conv(`${p}.conv2`, planes, planes, 3, {padding: 1, constrained: true});
  const branch = b.bn(`${p}.bn2`, planes);
  return shortcutAdd(b, p, input, branch, inplanes, planes, stride);
}

function shortcutAdd(b: SpecBuilder, p: string, input: string, branch: string, inplanes: number, out: number, stride: number): string {
  let shortcut = input;
  if (stride !== 1 || inplanes !== out) {
    b.from(input);
    b.conv(`${p}.downsample.0`, inplanes, out, 1, {stride, constrained: true});
    shortcut = b.bn(`${p}.downsample.1`, out);
  }
  b.add(`${p}.add`, branch, shortcut);
  return b.relu(`${p}.relu`);
}


const DEPTHS: Record<18 | 50, {block: Block; layers: readonly number[]}> = {
  18: {block: 'basic', layers: [2, 2, 2, 2]},
  50: {block: 'bottleneck', layers: [3, 4, 6, 3]},
};

/**
 * torchvision's ResNet (v1.5: the stride sits on the 3×3 convolution of a bottleneck) with CBP's choice of
 * constrained layers: every convolution, downsample convolutions included, except the stem `conv1`; the final
 * `fc` (with bias) stays full precision. `base` is the stem width (64 in the published models).
 */
function resnet(depth: 18 | 50, numClasses: number, inputShape: readonly [number, number, number], base: number): ModelSpec {
  const {block, layers} = DEPTHS[depth];
  const expansion = block === 'basic' ? 1 : 4;
  const b = new SpecBuilder(`resnet${depth}`, inputShape);
  b.conv('conv1', inputShape[0], base, 7, {stride: 2, padding: 3, constrained: false});
  b.bn('bn1', base);
  b.relu('relu');
  b.maxpool('maxpool', 3, 2, 1);
  let inplanes = base;
  layers.forEach((count, stage) => {
    const planes = base * 2 ** stage;
    for (let i = 0; i < count; i++) {
      const stride = i === 0 && stage > 0 ? 2 : 1;
      const p = `layer${stage + 1}.${i}`;
      const out = planes * expansion;
      if (block === 'basic') {
        basicBlock(b, p, inplanes, planes, stride);
      } else {
        const input = b.current;
        b.conv(`${p}.conv1`, inplanes, planes, 1, {constrained: true});
        b.bn(`${p}.bn1`, planes);
        b.relu(`${p}.relu1`);
        b.conv(`${p}.conv2`, planes, planes, 3, {stride, padding: 1, constrained: true});
        b.bn(`${p}.bn2`, planes);
        b.relu(`${p}.relu2`);
        b.conv(`${p}.conv3`, planes, out, 1, {constrained: true});
        const branch = b.bn(`${p}.bn3`, out);
        shortcutAdd(b, p, input, branch, inplanes, out, stride);
      }
      inplanes = out;
    }
  });
  b.globalAvgPool('avgpool');
  b.flatten('flatten');
  b.dense('fc', inplanes, numClasses, {bias: true, constrained: false});
  return b.build(numClasses);
}

export function resnet18(numClasses = 1000, inputShape: readonly [number, number, number] = [3, 224, 224], base = 64): ModelSpec {
  return resnet(18, numClasses, inputShape, base);
}

export function resnet50(numClasses = 1000, inputShape: readonly [number, number, number] = [3, 224, 224], base = 64): ModelSpec {
  return resnet(50, numClasses, inputShape, base);
}

/**
 * A ResNet-20 in the style of He et al.'s CIFAR networks, for small images (Fashion-MNIST, 1×28×28): a 3×3 stem
 * of `base` channels (full precision), three stages of three basic blocks (base, 2·base, 4·base channels; stride
 * 2 at the start of stages 2 and 3 with a constrained 1×1 downsample convolution), global average pooling and a
 * full-precision `fc`.
 */
export function resnet20(numClasses = 10, inputShape: readonly [number, number, number] = [1, 28, 28], base = 16): ModelSpec {
  const b = new SpecBuilder('resnet20', inputShape);
  b.conv('conv1', inputShape[0], base, 3, {padding: 1, constrained: false});
  b.bn('bn1', base);
  b.relu('relu');
  let inplanes = base;
  for (let stage = 0; stage < 3; stage++) {
    const planes = base * 2 ** stage;
    for (let i = 0; i < 3; i++) {
      const stride = i === 0 && stage > 0 ? 2 : 1;
      basicBlock(b, `layer${stage + 1}.${i}`, inplanes, planes, stride);
      inplanes = planes;
    }
  }
  b.globalAvgPool('avgpool');
  b.flatten('flatten');
  b.dense('fc', inplanes, numClasses, {bias: true, constrained: false});
  return b.build(numClasses);
}
