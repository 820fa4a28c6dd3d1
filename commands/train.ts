import {Flags} from '@oclif/core';
import {DATASET_NAMES, TRAIN_DEFAULTS, train, type TrainResult} from '../src/index';
import {ProgressBar} from './progress';
import {backendFlag, choices, deviceFlag, engineFlag, methodFlag, numberFlag, optionalModelFlag, quantFlag} from './flags';
import {CbpCommand} from './base';

export default class Train extends CbpCommand {
  static override summary = 'Train a network with constrained weights by CBP (or in full precision with --quant none).';
  static override description =
    'Minimises cross-entropy + Σ λ·c(w) with the quantized weights in the forward pass, raising λ whenever the ' +
    'Lagrangian stops falling. Writes runs/NAME/{weights.safetensors,state.json,progress.tsv} after every epoch.';
  static override examples = [
    '<%= config.bin %> train --model lenet5 --quant none --data mnist --epochs 4 --lr 0.05 --out runs/lenet5-float',
    '<%= config.bin %> train --model lenet5 --quant bin --data mnist --init runs/lenet5-float --epochs 3 --out runs/lenet5-bin',
    '<%= config.bin %> train --resume runs/lenet5-bin --epochs 6',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    model: optionalModelFlag(`architecture [default: ${TRAIN_DEFAULTS.model}, or the architecture an --init run imported from ONNX carries]`),
    quant: quantFlag('weight constraint', TRAIN_DEFAULTS.quant),
    data: Flags.string({description: `data set (${DATASET_NAMES.join(', ')}) or an ImageNet-style folder with train/ and val/`, helpValue: choices([...DATASET_NAMES, 'FOLDER']), default: TRAIN_DEFAULTS.data}),
    epochs: Flags.integer({description: `total epochs of the run [default: ${TRAIN_DEFAULTS.epochs}; with --resume: as stored]`}),
    init: Flags.string({description: 'start from these weights: a cbp checkpoint folder (e.g. a float run; its scales are kept for the same --quant) or a PyTorch .pth (scales reset to mean |w| of its weights, as the reference does)'}),
    resume: Flags.string({description: 'continue the run in this checkpoint folder from its last completed epoch'}),
    out: Flags.string({description: 'checkpoint folder [default: runs/MODEL-QUANT-DATA, DATA the data set or the image folder\'s name]'}),
    force: Flags.boolean({description: 'replace the run --out already holds: its checkpoint, progress.tsv, plots and the ONNX files cbp exported there are removed first (other files stay)'}),
    width: Flags.integer({description: 'channels of the first layer of alexnet/resnet* (later layers scale with it) [default: the published width, or --init\'s]'}),
    limit: Flags.integer({description: 'train on only N training images (the first N; spread over the classes for folders)'}),
    'test-limit': Flags.integer({description: 'evaluate each epoch on only N test images (recorded with the run and in its model card)'}),
    seed: Flags.integer({description: 'seed of initial weights and shuffling', default: TRAIN_DEFAULTS.seed}),
    'batch-size': Flags.integer({description: 'images per step', default: TRAIN_DEFAULTS.batchSize}),
    lr: numberFlag('lr', 'learning rate of the weights (SGD, momentum 0.9)', 0, false, TRAIN_DEFAULTS.lr),
    'lr-drops': Flags.string({description: 'full-precision runs (--quant none): epochs after which the learning rate drops ×0.1, e.g. 15,25 [default: none, a constant rate; constrained runs follow CBP\'s schedule]'}),
    'lr-lambda': numberFlag('lr-lambda', 'learning rate of the Lagrange multipliers (Adam ascent)', 0, true, TRAIN_DEFAULTS.lrLambda),
    'weight-decay': numberFlag('weight-decay', 'L2 penalty on conv/dense weights', 0, true, TRAIN_DEFAULTS.weightDecay),
    period: Flags.integer({description: 'update λ at least every this many epochs', default: TRAIN_DEFAULTS.period}),
    engine: engineFlag('training engine: auto picks onnxruntime on the CPU, tfjs when a tfjs --backend or --workers count is given or tfjs-node-gpu is installed', TRAIN_DEFAULTS.engine),
    device: deviceFlag('execution provider of the onnxruntime engine', TRAIN_DEFAULTS.device),
    backend: backendFlag('tfjs backend (tfjs engine)', TRAIN_DEFAULTS.backend),
    workers: Flags.string({description: 'threads sharing each step: auto (wasm/cpu: one per core, at most 4; native TensorFlow: 1) or a count', default: TRAIN_DEFAULTS.workers}),
    method: methodFlag('cbp, or ste: the same quantized training without the constraint term (a baseline; its learning rate follows the same schedule, dropping ×0.1 where CBP\'s would)', TRAIN_DEFAULTS.method),
    plot: Flags.boolean({description: 'draw curves.png and weights.png into the run folder at the end', default: true, allowNo: true}),
  };

  async run(): Promise<TrainResult> {
    const {flags} = await this.parse(Train);
    const bar = new ProgressBar();
    const result = await train({
      model: flags.model,
      quant: flags.quant,
      data: flags.data,
      epochs: flags.epochs,
      init: flags.init,
      resume: flags.resume,
      out: flags.out,
      force: flags.force,
      limit: flags.limit,
      width: flags.width,
      testLimit: flags['test-limit'],
      method: flags.method,
      seed: flags.seed,
      batchSize: flags['batch-size'],
      lr: flags.lr,
      lrDrops: flags['lr-drops'],
      lrLambda: flags['lr-lambda'],
      weightDecay: flags['weight-decay'],
      period: flags.period,
      backend: flags.backend,
      engine: flags.engine,
      device: flags.device,
      workers: flags.workers,
      plot: flags.plot,
      log: (line) => {
        bar.clear();
        this.note(line);
      },
      onStep: (p) =>
        bar.update(p.step, p.steps, `epoch ${p.epoch}/${p.epochs}`, `loss ${p.loss.toFixed(4)} lag ${p.lagrangian.toFixed(4)} cfs ${p.cfs.toExponential(2)}`, p.elapsed),
    });
    bar.clear();
    this.log(`${result.model} ${result.quant} on ${result.data}: top-1 ${(result.top1 * 100).toFixed(2)}%, top-5 ${(result.top5 * 100).toFixed(2)}%, CFS ${result.cfs.toExponential(3)}, ${result.seconds.toFixed(0)} s on ${result.backend}`);
    if (result.histograms.length > 0) {
      this.log('weights at each level (latent weights quantized):');
      for (const h of result.histograms) {
        const cells = h.levels.map((l, i) => `${l >= 0 ? '+' : ''}${l}: ${h.counts[i]}`).join('  ');
        this.log(`  ${h.layer.padEnd(12)} scale ${h.scale.toPrecision(4)}  ${cells}${h.offLevel > 0 ? `  off-level: ${h.offLevel}` : ''}`);
      }
    }
    this.log(`checkpoint: ${result.out}`);
    if (result.plots !== undefined) this.log(`plots: ${result.plots.curves}${result.plots.weights ? `, ${result.plots.weights}` : ''}`);
    return result;
  }
}
