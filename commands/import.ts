import {Args} from '@oclif/core';
import {IMPORT_OPTIONS, importModel, type ImportRunResult} from '../src/index';
import {flagsOf, optionsOf} from './flags';
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
  static override flags = flagsOf(IMPORT_OPTIONS);

  async run(): Promise<Omit<ImportRunResult, 'export'> & {onnx?: string}> {
    const {args, flags} = await this.parse(Import);
    const r = await importModel({
      file: args.file,
      ...optionsOf(IMPORT_OPTIONS, flags),
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
