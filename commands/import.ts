import {Args, Flags} from '@oclif/core';
import {DATASET_NAMES, importModel, type ImportRunResult} from '../src/index';
import {choices, optionalModelFlag, optionalQuantFlag} from './flags';
import {CbpCommand} from './base';

export default class Import extends CbpCommand {
  static override summary = 'Import a PyTorch .pth checkpoint (zip or legacy format) or a float ONNX classifier as a cbp checkpoint, optionally straight to ONNX.';
  static override description =
    'A .pth: the pickle inside is read by a data-only reader that refuses any global a state dict does not need, so nothing ' +
    'in the file is executed; keys are matched by name (a module. prefix is stripped) with shape checks. An .onnx (what ' +
    'torch.onnx.export writes; export with training=torch.onnx.TrainingMode.PRESERVE to keep batch norms): its graph ' +
    'becomes the run\'s architecture, trained with `cbp train --init OUT`; unsupported operators are listed and nothing is written.';
  static override examples = [
    '<%= config.bin %> import model/resnet18_bin_prequantized.pth --model resnet18 --quant bin --onnx model/resnet18_bin.onnx',
    '<%= config.bin %> import resnet18-5c106cde.pth --model resnet18 --quant none --data imagenet --labels imagenet_classes.txt --out runs/resnet18-float',
    '<%= config.bin %> import my_cnn.onnx --out runs/my_cnn-float',
  ];
  static override enableJsonFlag = true;
  static override args = {file: Args.string({description: 'PyTorch checkpoint (.pth) or float ONNX model (.onnx)', required: true})};
  static override flags = {
    model: optionalModelFlag('architecture of a .pth (required for one)'),
    quant: optionalQuantFlag('constraint the weights follow (required for a .pth; an .onnx: none by default)'),
    'keep-float': Flags.string({description: 'an .onnx: keep these conv/dense layers full precision (node names; * and ? match any characters); repeatable', multiple: true}),
    out: Flags.string({description: 'cbp checkpoint folder to write [default: runs/MODEL-QUANT-imported]'}),
    onnx: Flags.string({description: 'also export the imported model to this ONNX file'}),
    force: Flags.boolean({description: 'replace the run --out already holds (its checkpoint is written over, its plots and the ONNX files cbp exported there removed)'}),
    'num-classes': Flags.integer({description: 'classes of the last layer [default: from the checkpoint]'}),
    'input-size': Flags.integer({description: 'input height and width [default: 224, or the --data set\'s]'}),
    data: Flags.string({helpValue: choices(['imagenet', ...DATASET_NAMES, 'FOLDER']), description: 'what the weights were trained on, recorded in the model card: imagenet, mnist, fashion-mnist or an image folder (its class folders become the labels) [default: not recorded]'}),
    labels: Flags.string({description: 'class names for the model card, one per line in output order'}),
    strict: Flags.boolean({description: 'refuse checkpoints with keys the model does not have', default: true, allowNo: true}),
  };

  async run(): Promise<Omit<ImportRunResult, 'export'> & {onnx?: string}> {
    const {args, flags} = await this.parse(Import);
    const r = await importModel({
      file: args.file,
      model: flags.model,
      quant: flags.quant,
      out: flags.out,
      onnx: flags.onnx,
      force: flags.force,
      numClasses: flags['num-classes'],
      inputSize: flags['input-size'],
      strict: flags.strict === false ? false : undefined,
      keepFloat: flags['keep-float'],
      data: flags.data,
      labels: flags.labels,
      log: (l) => this.note(l),
    });
    if (r.format === 'onnx') {
      for (const w of r.warnings) this.note(`warning: ${w}`);
      this.log(`read ${args.file} (ONNX): ${r.layers} layers, ${r.numClasses} classes, input ${r.inputShape.join('×')}, logits as the file's in ONNX Runtime (largest difference ${r.maxDifference.toExponential(2)})`);
      this.log(`  constrained by CBP: ${r.constrained.join(', ') || 'none'}; full precision: ${r.fullPrecision.join(', ') || 'none'}`);
    } else {
      this.log(`read ${args.file} (${r.format} format): ${r.tensors} tensors for ${r.model} (${r.numClasses} classes, width ${r.base})`);
      if (r.scalesFromCheckpoint.length > 0) this.log(`  scales from the checkpoint: ${r.scalesFromCheckpoint.length} layers`);
      if (r.scalesFromWeights.length > 0) this.log(`  scales set to mean|w| (not in the checkpoint): ${r.scalesFromWeights.length} layers`);
      if (r.ignored.length > 0) this.log(`  ignored: ${r.ignored.join(', ')}`);
    }
    this.log(`checkpoint: ${r.out}`);
    const {export: e, ...imported} = r;
    if (e === undefined) return imported;
    this.log(`wrote ${e.out}: ${e.bytes} bytes (packing verified in ONNX Runtime against a float32 export, largest logit difference ${e.maxDifference.toExponential(2)})`);
    return {...imported, onnx: e.out};
  }
}
