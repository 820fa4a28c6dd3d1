import * as path from 'node:path';
import {CbpError} from './errors';
import {describeFile, type FileKind, type FileKindName} from './file-kind';

/** The commands that read a model file, each with what it reads, as its refusal of another kind of file says it. */
export type Reader = 'info' | 'import' | 'eval';

const READS: Readonly<Record<Reader, {label: (file: string) => string; expected: string; reads: string}>> = {
  info: {label: (f) => f, expected: 'an ONNX model or a cbp checkpoint folder', reads: 'cbp info reads an .onnx file or a checkpoint folder (cbp train or cbp import --out)'},
  import: {label: (f) => f, expected: 'a PyTorch checkpoint or an ONNX model', reads: 'cbp import reads a PyTorch .pth (torch.save, zip or legacy format) or a float ONNX model (torch.onnx.export)'},
  eval: {label: (f) => `--onnx ${f}`, expected: 'an ONNX model', reads: 'cbp eval --onnx reads an .onnx file (cbp export writes one from a checkpoint)'},
};

/** The command that does take a file of this kind, where there is one. */
function nextStep(reader: Reader, file: string, kind: FileKindName): string | undefined {
  switch (kind) {
    case 'pytorch-zip':
    case 'pytorch-legacy':
      return reader === 'eval' ? `cbp import ${file} --model MODEL --quant QUANT --onnx OUT.onnx makes one of it` : `import it first: cbp import ${file} --model MODEL --quant QUANT`;
    case 'checkpoint':
      return reader === 'eval' ? `cbp export --checkpoint ${file} writes its ONNX model` : `it needs no import: train from it with cbp train --init ${file}, export it with cbp export --checkpoint ${file}`;
    case 'checkpoint-weights':
      return reader === 'info' ? `give its folder instead: cbp info ${path.dirname(file)}` : nextStep(reader, path.dirname(file), 'checkpoint');
    case 'safetensors':
      return 'cbp reads safetensors only in its own checkpoint folders; import a PyTorch state dict saved with torch.save';
    case 'cbp-onnx':
      return `see it with cbp info ${file}, evaluate it with cbp eval --onnx ${file}, or train further from the run it came from (cbp train --init RUN)`;
    case 'onnx':
    case 'folder':
    case 'zip':
    case 'text':
    case 'empty':
    case 'binary':
    case 'special':
    case 'missing':
      return undefined;
  }
}

/**
 * The refusal of `cbp <reader>` given a file of the wrong kind: what the file is, what the command reads, and the
 * command that takes it, e.g. "notes.txt: a text file, not a PyTorch checkpoint or an ONNX model; cbp import reads …".
 */
export function wrongFile(reader: Reader, file: string, kind: FileKind): CbpError {
  const r = READS[reader];
  const what = describeFile(r.label(file), kind);
  if (kind.kind === 'missing') return new CbpError(what, 'NO_FILE');
  const cbpExport = kind.kind === 'cbp-onnx' ? ' with its constrained weights stored as codes, not a float model to import' : '';
  const next = nextStep(reader, file, kind.kind);
  return new CbpError(`${what}${cbpExport || `, not ${r.expected}`}; ${next ?? r.reads}`, 'WRONG_FILE');
}
