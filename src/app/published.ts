import * as fs from 'node:fs';
import * as path from 'node:path';
import {CbpError} from '../core/errors';
import {exportCheckpoint} from './export';
import {importPth} from './import-torch';
import type {ModelName} from '../../models/index';
import type {QuantOrNone} from '../cbp/registry';

/**
 * The ONNX file for a published CBP model, as the reference's evaluate.py finds its checkpoint:
 * model/{model}_{quant}.onnx if present, else model/{model}_{quant}_prequantized.pth imported and exported
 * once (the .onnx is then reused). `model` and `quant` are checked by the caller (resolveEvaluateOptions for `evaluate`).
 */
export async function publishedOnnx(model: ModelName, quant: QuantOrNone, dir = 'model', log?: (l: string) => void): Promise<string> {
  const onnx = path.join(dir, `${model}_${quant}.onnx`);
  if (fs.existsSync(onnx)) return onnx;
  const pth = path.join(dir, `${model}_${quant}_prequantized.pth`);
  if (!fs.existsSync(pth)) {
    throw new CbpError(
      `--model ${model} --quant ${quant}: neither ${onnx} nor ${pth} exists; put the pre-quantized checkpoint ` +
        `from the CBP repository (dooseokjeong/CBP, model/README.md) at ${pth}`,
      'NO_FILE',
    );
  }
  log?.(`importing ${pth} (once; the ONNX file is cached as ${onnx})`);
  const ck = path.join(dir, `${model}_${quant}_imported`);
  // The reference's published checkpoints are its ImageNet models (dooseokjeong/CBP, model/README.md).
  importPth({file: pth, model, quant, out: ck, strict: false, data: 'imagenet'});
  await exportCheckpoint({checkpoint: ck, format: 'onnx', out: onnx, weights: 'auto', verifyWith: 'float-onnx', log});
  return onnx;
}
