import {Args, Flags} from '@oclif/core';
import {importModel, type ImportResult} from '../src/index';
import {requiredModelFlag, requiredQuantFlag} from './flags';
import {CbpCommand} from './base';

export default class Import extends CbpCommand {
  static override summary = 'Import a PyTorch .pth checkpoint (zip or legacy format) as a cbp checkpoint, optionally straight to ONNX.';
  static override description =
    'The pickle inside is read by a data-only reader that refuses any global a state dict does not need, so nothing ' +
    'in the file is executed. Keys are matched by name (a module. prefix is stripped) with shape checks.';
  static override examples = [
    '<%= config.bin %> import model/resnet18_bin_prequantized.pth --model resnet18 --quant bin --onnx model/resnet18_bin.onnx',
    '<%= config.bin %> import resnet18-5c106cde.pth --model resnet18 --quant none --data imagenet --labels imagenet_classes.txt --out runs/resnet18-float',
  ];
  static override enableJsonFlag = true;
  static override args = {file: Args.string({description: 'PyTorch checkpoint (.pth)', required: true})};
  static override flags = {
    model: requiredModelFlag('architecture'),
    quant: requiredQuantFlag('constraint the weights follow'),
    out: Flags.string({description: 'cbp checkpoint folder to write [default: runs/MODEL-QUANT-imported]'}),
    onnx: Flags.string({description: 'also export the imported model to this ONNX file'}),
    'num-classes': Flags.integer({description: 'classes of the last layer [default: from the checkpoint]'}),
    'input-size': Flags.integer({description: 'input height and width [default: 224, or the --data set\'s]'}),
    data: Flags.string({description: 'what the weights were trained on, recorded in the model card: imagenet, mnist, fashion-mnist or an image folder (its class folders become the labels) [default: not recorded]'}),
    labels: Flags.string({description: 'class names for the model card, one per line in output order'}),
    strict: Flags.boolean({description: 'refuse checkpoints with keys the model does not have', default: true, allowNo: true}),
  };

  async run(): Promise<ImportResult & {onnx?: string}> {
    const {args, flags} = await this.parse(Import);
    const r = await importModel({
      file: args.file,
      model: flags.model,
      quant: flags.quant,
      out: flags.out,
      onnx: flags.onnx,
      numClasses: flags['num-classes'],
      inputSize: flags['input-size'],
      strict: flags.strict,
      data: flags.data,
      labels: flags.labels,
      log: (l) => this.note(l),
    });
    this.log(`read ${args.file} (${r.format} format): ${r.tensors} tensors for ${r.model} (${r.numClasses} classes, width ${r.base})`);
    if (r.scalesFromCheckpoint.length > 0) this.log(`  scales from the checkpoint: ${r.scalesFromCheckpoint.length} layers`);
    if (r.scalesFromWeights.length > 0) this.log(`  scales set to mean|w| (not in the checkpoint): ${r.scalesFromWeights.length} layers`);
    if (r.ignored.length > 0) this.log(`  ignored: ${r.ignored.join(', ')}`);
    this.log(`checkpoint: ${r.out}`);
    const {export: e, ...imported} = r;
    if (e === undefined) return imported;
    this.log(`wrote ${e.out}: ${e.bytes} bytes (packing verified in ONNX Runtime against a float32 export, largest logit difference ${e.maxDifference.toExponential(2)})`);
    return {...imported, onnx: e.out};
  }
}
