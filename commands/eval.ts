import {Flags} from '@oclif/core';
import {EVALUATE_OPTIONS, evaluate, mergeResults, type EvalResult} from '../src/index';
import {ProgressBar} from './progress';
import {CbpCommand} from './base';
import {flagsOf, optionsOf} from './flags';

// --merge (mergeResults, not evaluate) is the command's own; the usage line keeps it before --timeout.
const {timeout, ...evaluateFlags} = flagsOf(EVALUATE_OPTIONS);

export default class Eval extends CbpCommand {
  static override summary = 'Top-1/top-5 accuracy of an ONNX model through ONNX Runtime (CUDA when present, CPU otherwise).';
  static override description =
    'Evaluates --onnx FILE, or a published CBP model by --model and --quant (model/{model}_{quant}.onnx, made once from ' +
    'model/{model}_{quant}_prequantized.pth), on a built-in test set or an ImageNet-style folder decoded with sharp ' +
    '(resize 256, centre crop 224). --shard K/N splits a run (--shard auto takes K/N from a SLURM array or a Kubernetes Indexed Job); --merge combines the JSON results of the shards.';
  static override examples = [
    '<%= config.bin %> eval --onnx lenet5_bin.onnx --data mnist',
    '<%= config.bin %> eval --model alexnet --quant ter --data data/imagenet/val',
    '<%= config.bin %> eval --model resnet18 --quant bin --shard 1/2 --json > part1.json',
    '<%= config.bin %> eval --merge part1.json part2.json',
    '<%= config.bin %> eval --onnx lenet5_bin.onnx --data mnist --shard auto --json > part-$SLURM_ARRAY_TASK_ID.json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    ...evaluateFlags,
    merge: Flags.string({description: 'combine these --json shard results instead of evaluating', multiple: true}),
    timeout,
  };

  async run(): Promise<EvalResult> {
    const {flags} = await this.parse(Eval);
    const note = (l: string): void => (bar.clear(), this.note(l));
    const bar = new ProgressBar();
    let r: EvalResult;
    if (flags.merge !== undefined) {
      r = mergeResults(flags.merge);
    } else {
      r = await evaluate({
        ...optionsOf(EVALUATE_OPTIONS, flags),
        log: note,
        onBatch: (done, total, s) => bar.update(done, total, 'eval', '', s),
      });
      bar.clear();
    }
    this.log(`model    ${r.model}`);
    this.log(`data     ${r.data} (${r.images} images${r.skipped > 0 ? `, ${r.skipped} unreadable skipped` : ''}${r.shard ? `, shard ${r.shard}` : ''})`);
    this.log(`top-1    ${(r.top1 * 100).toFixed(2)}%`);
    this.log(`top-5    ${(r.top5 * 100).toFixed(2)}%`);
    if (r.nanRows !== undefined) this.log(`NaN      ${r.nanRows} images had NaN logits (counted as misses)`);
    this.log(`speed    ${r.imagesPerSecond.toFixed(1)} images/s on ${r.device}`);
    return r;
  }
}
