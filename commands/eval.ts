import {Flags} from '@oclif/core';
import {DATASET_NAMES, EVAL_DEFAULTS, PUBLISHED_DEFAULTS, evaluate, mergeResults, type EvalResult} from '../src/index';
import {ProgressBar} from './progress';
import {CbpCommand} from './base';
import {choices, deviceFlag, optionalModelFlag, optionalQuantFlag} from './flags';

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
    onnx: Flags.string({description: 'ONNX model file'}),
    model: optionalModelFlag('published model to evaluate, with --quant'),
    quant: optionalQuantFlag('constraint of the published model'),
    data: Flags.string({helpValue: choices([...DATASET_NAMES, 'FOLDER']), description: `mnist, fashion-mnist, or an image folder [default: ${EVAL_DEFAULTS.data}; with --model: ${PUBLISHED_DEFAULTS.data}]`}),
    device: deviceFlag('execution provider', EVAL_DEFAULTS.device),
    'batch-size': Flags.integer({description: 'images per run', default: EVAL_DEFAULTS.batchSize}),
    limit: Flags.integer({description: 'evaluate only N images (spread over all classes for folders)'}),
    shard: Flags.string({description: 'evaluate shard K of N (K/N), or auto: K/N from a SLURM array task or a Kubernetes Indexed Job with CBP_SHARD_COUNT (docs/SCALE.md)'}),
    'model-dir': Flags.string({description: 'where --model looks for {model}_{quant}.onnx and {model}_{quant}_prequantized.pth', default: PUBLISHED_DEFAULTS.modelDir}),
    merge: Flags.string({description: 'combine these --json shard results instead of evaluating', multiple: true}),
    timeout: Flags.integer({description: 'seconds the model may take to load or to run one batch before it is stopped', default: EVAL_DEFAULTS.timeout}),
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
        onnx: flags.onnx,
        model: flags.model,
        quant: flags.quant,
        modelDir: flags['model-dir'],
        data: flags.data,
        device: flags.device,
        batchSize: flags['batch-size'],
        limit: flags.limit,
        shard: flags.shard,
        timeout: flags.timeout,
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
