/**
 * The comparisons against PyTorch that bench/fair.ts runs: the CBP training step of five models and two whole
 * `cbp train` epochs. Both sides of each use the same classes (10), batch, binary CBP step (λ 1e-4 everywhere,
 * ucs 0, lr 1e-3, momentum 0.9, weight decay 1e-4 on convolution and linear weights, gradients clipped to ±1,
 * constrained weights clamped; bench/torch_ref.py's cbp_step against src/cbp/update.ts) and, for steps, the same
 * warm-up (one step) and number of timed steps (BENCH_STEPS, set here for both).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {execFileSync} from 'node:child_process';
import {PY, ROOT, TORCH_REF, torchRefRun, type Comparison, type FairOptions} from './fair';
import {makePhotos} from './photos';

export const STEP_MODELS = ['lenet5', 'resnet18', 'mobilenet_v2', 'resnet50', 'efficientnet_b0', 'vit'] as const;
export type StepModel = (typeof STEP_MODELS)[number];

export function isStepModel(name: string): name is StepModel {
  return (STEP_MODELS as readonly string[]).includes(name);
}

const STEP_TITLES: Record<StepModel, string> = {
  lenet5: 'binary CBP step, LeNet-5, batch 256, 1×28×28',
  resnet18: 'binary CBP step, ResNet-18 (cbp\'s own model), batch 32, 3×224×224',
  mobilenet_v2: 'binary CBP step, torchvision MobileNetV2 via `cbp import`, batch 32, 3×224×224',
  resnet50: 'binary CBP step, torchvision ResNet-50 via `cbp import`, batch 32, 3×224×224',
  efficientnet_b0: 'binary CBP step, torchvision EfficientNet-B0 via `cbp import`, batch 32, 3×224×224',
  vit: 'binary CBP step, the Fashion-MNIST study\'s ViT (bench/make_vit.py: width 128, depth 4, 4 heads) via `cbp import`, batch 256, 1×28×28',
};

/** The batch of a step comparison: the study's for the ViT, 256 for LeNet-5, 32 for the ImageNet-sized CNNs. */
function stepBatch(model: StepModel): number {
  return model === 'lenet5' || model === 'vit' ? 256 : 32;
}

/** Timed steps after the one warm-up step, the same on both sides. */
export function stepsFor(model: StepModel, quick: boolean): number {
  if (model === 'lenet5') return quick ? 4 : 10;
  return quick ? 2 : 3;
}

/**
 * cbp's ONNX Runtime engine (bench/step.ts, its own process) against PyTorch (bench/torch_ref.py). LeNet-5 and
 * ResNet-18 are cbp's own models against torch_ref.py's same architectures; torchvision's models are read by
 * `cbp import` from PyTorch's own export (made once, in `tmp`, before the first round) and are the same torchvision
 * module on PyTorch's side, both with binary weights on every convolution and linear layer but the first and last.
 */
export function stepComparison(model: StepModel, o: FairOptions, tmp: string): Comparison {
  const steps = String(stepsFor(model, o.quick));
  const onnx = path.join(tmp, `${model}.onnx`);
  const builtin = model === 'lenet5' || model === 'resnet18';
  return {
    model,
    title: `${STEP_TITLES[model]}, 10 classes, ${steps} timed steps after 1 warm-up`,
    kind: 'step',
    prepare: builtin ? undefined : () => {
      if (fs.existsSync(onnx)) return;
      if (model === 'vit') execFileSync(PY, [path.join(ROOT, 'bench', 'make_vit.py'), '--out', onnx], {stdio: ['ignore', 'ignore', 'inherit']});
      else execFileSync(PY, [TORCH_REF, 'export', model, onnx], {stdio: ['ignore', 'ignore', 'inherit']});
    },
    cbp: (env) => ({
      cmd: process.execPath,
      args: [path.join(ROOT, 'dist', 'bench', 'step.js'), ...(builtin ? [model, 'onnxruntime'] : ['onnx', onnx])],
      env: {...env, BENCH_STEPS: steps, BENCH_BATCH: String(stepBatch(model))},
    }),
    torch: (config, env) => torchRefRun(config, {...env, BENCH_STEPS: steps}, [model, tmp]),
  };
}

const rmTag = (tag: string): void => {
  fs.rmSync(tag, {recursive: true, force: true});
  fs.rmSync(`${tag}.pth`, {force: true});
};

/**
 * A whole `cbp train` LeNet-5 binary epoch (12,800 MNIST images, batch 256, the 10,000 test images, the checkpoint)
 * against `torch_ref.py epoch` doing the same; each side one process, timed from outside, start-up included.
 */
export function lenetEpochComparison(): Comparison {
  return {
    model: 'lenet5-epoch',
    title: 'whole `cbp train` LeNet-5 binary epoch, 12,800 MNIST images, batch 256, test pass, checkpoint',
    kind: 'process',
    cbp: (env, tag) => ({
      cmd: process.execPath,
      args: [path.join(ROOT, 'bin', 'run.js'), 'train', '--model', 'lenet5', '--quant', 'bin', '--data', 'mnist', '--limit', '12800', '--epochs', '1', '--batch-size', '256', '--no-plot', '--engine', 'onnxruntime', '--out', tag],
      env: {...env, CBP_STEP_TIMES: '1'},
    }),
    torch: (config, env, tag) => torchRefRun(config, env, ['epoch', `${tag}.pth`]),
    cleanup: rmTag,
  };
}

/**
 * A whole `cbp train` ResNet-18 binary epoch on a folder of photographs (`nTrain` training and `nVal` validation
 * photos of 500×375 in 4 classes, made from the test fixtures' photos before the first round) against
 * `torch_ref.py folder-epoch` doing the same (torchvision's transforms, its data loader in the main process).
 */
export function folderEpochComparison(tmp: string, nTrain: number, nVal: number): Comparison {
  const data = path.join(tmp, 'photos');
  return {
    model: 'resnet18-folder-epoch',
    title: `whole \`cbp train\` ResNet-18 binary epoch on ${nTrain} + ${nVal} photos (500×375, 4 classes), batch 32, validation, checkpoint`,
    kind: 'process',
    prepare: async () => {
      if (fs.existsSync(data)) return;
      const classes = ['c0', 'c1', 'c2', 'c3'];
      await makePhotos(path.join(data, 'train'), classes, nTrain, 0);
      await makePhotos(path.join(data, 'val'), classes, nVal, nTrain);
    },
    cbp: (env, tag) => ({
      cmd: process.execPath,
      args: [path.join(ROOT, 'bin', 'run.js'), 'train', '--model', 'resnet18', '--quant', 'bin', '--data', data, '--epochs', '1', '--batch-size', '32', '--no-plot', '--engine', 'onnxruntime', '--out', tag],
      env: {...env, CBP_STEP_TIMES: '1'},
    }),
    torch: (config, env, tag) => torchRefRun(config, env, ['folder-epoch', data, `${tag}.pth`]),
    cleanup: rmTag,
  };
}

/** Whether /usr/bin/python3 (BENCH_PYTHON) can import each module. */
export function pythonHas(module: string): boolean {
  try {
    execFileSync(PY, ['-c', `import ${module}`], {stdio: 'ignore'});
    return true;
  } catch {
    return false;
  }
}
