import {EXPORT_OPTIONS, FAST_TOLERANCE, exportCheckpoint, storageHelp, type ExportResult} from '../src/index';
import {CbpCommand} from './base';
import {flagsOf, optionsOf} from './flags';

export default class Export extends CbpCommand {
  static override summary = 'Export a checkpoint as an ONNX model with integer-coded constrained weights and a model card, verified in ONNX Runtime.';
  static override description =
    `Constrained layers are stored as level codes (${storageHelp()}); --weights int8 uses INT8 codes ` +
    '(opset 13) for runtimes without sub-byte types; the codes are cast to float and scaled in-graph, which ONNX Runtime folds when it loads the file; --weights float plain float32, and --weights ' +
    'portable the float32 file for other runtimes (it passes the onnx checker and loads in OpenCV\'s DNN; see ' +
    'docs/DEPLOY.md for which runtime takes which). --weights fast runs constrained dense layers on features (one row per sample) as ONNX Runtime\'s ' +
    'MatMulNBits on 4-bit codes (ONNX Runtime only, ≥ 1.17; faster than float at small batches) and stores the rest as auto, token-wise dense layers (a vision transformer\'s) too: there MatMulNBits measured slower than float. Every file carries a model card (class names, preprocessing, the ' +
    'oldest ONNX Runtime that loads it, where the weights came from) in its metadata and doc_string; `cbp info` shows it. ' +
    'After writing, the file is run in onnxruntime-node on test images and compared with the tfjs forward pass.';
  static override examples = [
    '<%= config.bin %> export --format onnx --checkpoint runs/lenet5-bin',
    '<%= config.bin %> export --format onnx --checkpoint runs/lenet5-ter --out lenet5_ter_int8.onnx --weights int8',
    '<%= config.bin %> export --checkpoint runs/resnet18-bin-imported --out resnet18_bin_portable.onnx --weights portable --labels classes.txt',
    '<%= config.bin %> export --checkpoint runs/alexnet-ter --out alexnet_ter_fast.onnx --weights fast',
    '<%= config.bin %> export --checkpoint runs/resnet18-bin --out resnet18_bin_int8.onnx --activations int8',
  ];
  static override enableJsonFlag = true;
  static override flags = flagsOf(EXPORT_OPTIONS);

  async run(): Promise<ExportResult> {
    const {flags} = await this.parse(Export);
    const r = await exportCheckpoint({...optionsOf(EXPORT_OPTIONS, flags), checkpoint: flags.checkpoint, log: (l) => this.note(l)});
    this.log(`wrote ${r.out}: ${r.bytes} bytes, opset ${r.opset}, needs ONNX Runtime ≥ ${r.card.minOnnxRuntime}`);
    for (const l of r.layers) {
      const runs = r.int8 === undefined ? '' : r.int8.integerLayers.includes(l.layer) ? ' int8 activations ' : ' float activations';
      this.log(`  ${l.layer.padEnd(12)} ${l.constrained ? 'constrained' : 'float      '}  ${l.storage.padEnd(7)}${runs} ${l.weights} weights${l.scale !== undefined ? `, scale ${l.scale.toPrecision(4)}` : ''}`);
    }
    const labels = r.card.labels;
    this.log(`card: ${labels === null ? 'no class names (give --labels FILE)' : `${labels.length} class names`}; preprocessing ${r.card.preprocessing.known ? 'recorded' : 'not recorded (cbp was not told the training data)'}; ${r.card.source.kind}`);
    this.log(`verified in ONNX Runtime on ${r.verifiedImages} test images: largest logit difference from ${r.verifiedWith === 'tfjs' ? 'tfjs' : 'the float32 export'} ${r.maxDifference.toExponential(2)} (largest logit ${r.maxLogit.toFixed(2)})` +
      (r.weights === 'fast' ? `; within ${FAST_TOLERANCE} of the largest of the float32 export's` : '') + (r.int8 !== undefined ? ' (the float-activation file)' : ''));
    const c = r.int8?.check;
    if (c !== undefined) {
      const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;
      this.log(c.floatTop1 !== null && c.int8Top1 !== null
        ? `int8 activations: test top-1 ${pct(c.int8Top1)} against ${pct(c.floatTop1)} with float activations (${((c.int8Top1 - c.floatTop1) * 100).toFixed(2)} points) on ${c.images} images of ${c.data}; written into the card`
        : `int8 activations: top-1 agrees with the float-activation file on ${pct(c.agreement)} of ${c.images} images of ${c.data}; written into the card`);
    }
    return r;
  }
}
