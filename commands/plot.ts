import {Args} from '@oclif/core';
import {PLOT_OPTIONS, plot as plotRun, type PlotResult} from '../src/index';
import {flagsOf, optionsOf} from './flags';
import {CbpCommand} from './base';

export default class Plot extends CbpCommand {
  static override summary = 'Draw a run as PNG: training curves (curves.png) and latent-weight histograms against the levels (weights.png).';
  static override examples = ['<%= config.bin %> plot runs/lenet5-bin', '<%= config.bin %> plot runs/lenet5-bin --out pictures'];
  static override enableJsonFlag = true;
  static override args = {run: Args.string({description: 'checkpoint folder of a cbp train run', required: true})};
  static override flags = flagsOf(PLOT_OPTIONS);

  async run(): Promise<PlotResult> {
    const {args, flags} = await this.parse(Plot);
    const r = await plotRun(args.run, optionsOf(PLOT_OPTIONS, flags));
    this.log(`wrote ${r.curves}${r.weights ? ` and ${r.weights}` : ''}`);
    return r;
  }
}
