import {Flags} from '@oclif/core';
import {exportCheckpoint, type ExportResult} from '../src/app/export';
import {CbpCommand} from './base';
import {backendFlag, exportFormatFlag, weightsFlag} from './flags';
import {storageHelp} from '../onnx/codes';

export default class Export extends CbpCommand {
  static override summary = 'Export a checkpoint as an ONNX model with integer-coded constrained weights, verified in ONNX Runtime.';
  static override description =
    `Constrained layers are stored as level codes restored by DequantizeLinear (${storageHelp()}); ` +
    '--weights int8 uses INT8 (opset 13) for runtimes without sub-byte types, --weights float plain float32. ' +
    'After writing, the file is run in onnxruntime-node on test images and compared with the tfjs forward pass.';
  static override examples = [
    '<%= config.bin %> export --format onnx --checkpoint runs/lenet5-bin',
    '<%= config.bin %> export --format onnx --checkpoint runs/lenet5-ter --out lenet5_ter_int8.onnx --weights int8',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    format: exportFormatFlag('output format'),
    checkpoint: Flags.string({description: 'checkpoint folder written by cbp train or cbp import', required: true}),
    out: Flags.string({description: 'output file [default: MODEL_QUANT.onnx]'}),
    weights: weightsFlag('storage of constrained weights'),
    backend: backendFlag('tfjs backend for the verification forward pass', 'auto'),
  };

  async run(): Promise<ExportResult> {
    const {flags} = await this.parse(Export);
    const r = await exportCheckpoint({...flags, log: (l) => this.note(l)});
    this.log(`wrote ${r.out}: ${r.bytes} bytes, opset ${r.opset}`);
    for (const l of r.layers) {
      this.log(`  ${l.layer.padEnd(12)} ${l.constrained ? 'constrained' : 'float      '}  ${l.storage.padEnd(7)} ${l.weights} weights${l.scale !== undefined ? `, scale ${l.scale.toPrecision(4)}` : ''}`);
    }
    this.log(`verified in ONNX Runtime on ${r.verifiedImages} test images: largest logit difference from tfjs ${r.maxDifference.toExponential(2)} (largest logit ${r.maxLogit.toFixed(2)})`);
    return r;
  }
}
