import {TRAIN_OPTIONS, train, type TrainResult} from '../src/index';
import {ProgressBar} from './progress';
import {flagsOf, optionsOf} from './flags';
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
  static override flags = flagsOf(TRAIN_OPTIONS);

  async run(): Promise<TrainResult> {
    const {flags} = await this.parse(Train);
    const bar = new ProgressBar();
    const result = await train({
      ...optionsOf(TRAIN_OPTIONS, flags),
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
