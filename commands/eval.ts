import {Flags} from '@oclif/core';
import {DEVICES} from '../src/eval/session';
import {evaluateOnnx, type EvalResult} from '../src/eval/evaluate';
import {ProgressBar} from '../src/util/progress';
import {CbpCommand} from './base';

export default class Eval extends CbpCommand {
  static override summary = 'Top-1/top-5 accuracy of an ONNX model through ONNX Runtime (CUDA when present, CPU otherwise).';
  static override examples = [
    '<%= config.bin %> eval --onnx lenet5_bin.onnx --data mnist',
    '<%= config.bin %> eval --onnx lenet5_bin.onnx --data mnist --device cpu --batch-size 500 --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    onnx: Flags.string({description: 'ONNX model file', required: true}),
    data: Flags.string({description: 'data set whose test split to use (mnist, fashion-mnist)', default: 'mnist'}),
    device: Flags.string({description: `execution provider (${DEVICES.join(', ')})`, default: 'auto'}),
    'batch-size': Flags.integer({description: 'images per run', default: 256}),
    limit: Flags.integer({description: 'evaluate only the first N test images'}),
  };

  async run(): Promise<EvalResult> {
    const {flags} = await this.parse(Eval);
    const bar = new ProgressBar();
    const r = await evaluateOnnx({
      onnx: flags.onnx,
      data: flags.data,
      device: flags.device,
      batchSize: flags['batch-size'],
      limit: flags.limit,
      log: (l) => (bar.clear(), this.note(l)),
      onBatch: (done, total, s) => bar.update(done, total, 'eval', '', s),
    });
    bar.clear();
    this.log(`model    ${r.model}`);
    this.log(`data     ${r.data} (${r.images} test images)`);
    this.log(`top-1    ${(r.top1 * 100).toFixed(2)}%`);
    this.log(`top-5    ${(r.top5 * 100).toFixed(2)}%`);
    this.log(`speed    ${r.imagesPerSecond.toFixed(0)} images/s on ${r.device}`);
    return r;
  }
}
