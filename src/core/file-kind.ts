import * as fs from 'node:fs';
import * as path from 'node:path';
import {onnxTop} from './onnx-top';

/**
 * What a path holds, judged by its bytes (not its name), so that a command given the wrong file says what the file
 * is instead of failing inside a parser:
 * - `onnx`: an ONNX model; `cbp-onnx`: one cbp exported (cbp.* metadata);
 * - `pytorch-zip`: torch.save's zip format (an entry `…/data.pkl`); `pytorch-legacy`: its older pickle format;
 * - `safetensors`; `checkpoint-weights`: the weights.safetensors of a cbp checkpoint folder;
 * - `checkpoint`: a cbp checkpoint folder; `folder`: any other folder;
 * - `zip`: another zip archive; `text`; `empty`; `binary`: bytes of no kind above;
 * - `special`: a device, FIFO or socket (not opened: reading one could block); `missing`: nothing there.
 */
export const FILE_KINDS = [
  'onnx',
  'cbp-onnx',
  'pytorch-zip',
  'pytorch-legacy',
  'safetensors',
  'checkpoint-weights',
  'checkpoint',
  'folder',
  'zip',
  'text',
  'empty',
  'binary',
  'special',
  'missing',
] as const;
export type FileKindName = (typeof FILE_KINDS)[number];

export interface FileKind {
  readonly kind: FileKindName;
  /** `cbp-onnx`: the file's cbp.* metadata (model, constraint, weights, …); empty otherwise. */
  readonly cbp: ReadonlyMap<string, string>;
}

/** What each kind is, as a message says it: "notes.txt: a text file, …". */
export const KIND_TEXT: Readonly<Record<FileKindName, string>> = {
  'onnx': 'an ONNX model',
  'cbp-onnx': 'an ONNX model cbp exported',
  'pytorch-zip': 'a PyTorch checkpoint (zip format)',
  'pytorch-legacy': 'a PyTorch checkpoint (legacy pickle format)',
  'safetensors': 'a safetensors file',
  'checkpoint-weights': 'the weights file of a cbp checkpoint folder',
  'checkpoint': 'a cbp checkpoint folder',
  'folder': 'a folder',
  'zip': 'a zip archive that is not a PyTorch checkpoint (no data.pkl inside)',
  'text': 'a text file',
  'empty': 'an empty file',
  'binary': 'a binary file of no format cbp reads (not ONNX, PyTorch or safetensors)',
  'special': 'not a regular file (a device, FIFO or socket)',
  'missing': 'no such file or folder',
};

/** Whether a file is named as an ONNX model: a file of unknown bytes so named goes to the ONNX reader, which says where it is damaged. */
export const namedOnnx = (file: string): boolean => /\.onnx$/i.test(file);

/** The files that make a folder a cbp checkpoint (src/run/checkpoint.ts writes them; a test holds the names equal). */
export const CHECKPOINT_MARKERS = {weights: 'weights.safetensors', state: 'state.json'} as const;

const HEAD = 4096;
const NO_META: ReadonlyMap<string, string> = new Map();
const kind = (k: FileKindName, cbp = NO_META): FileKind => ({kind: k, cbp});

/** Whether a zip archive holds torch.save's `data.pkl`: the first entry's name, else the central directory at the end. */
function holdsPickle(fd: number, head: Uint8Array, size: number): boolean {
  const nameLength = head[26] | (head[27] << 8);
  if (Buffer.from(head.subarray(30, 30 + nameLength)).toString('latin1').endsWith('data.pkl')) return true;
  const tailLength = Math.min(size, 1 << 20);
  const tail = Buffer.alloc(tailLength);
  fs.readSync(fd, tail, 0, tailLength, size - tailLength);
  return tail.includes('data.pkl');
}

/** safetensors: an 8-byte little-endian header length, then that many bytes of JSON object, inside the file. */
function isSafetensors(head: Uint8Array, size: number): boolean {
  if (head.length < 10) return false;
  const n = Number(Buffer.from(head).readBigUInt64LE(0));
  return head[8] === 0x7b && n >= 2 && 8 + n <= size;
}

/** Text: valid UTF-8 with no NUL and few control characters besides tab, newlines, form feed and escape. */
function isText(head: Uint8Array, whole: boolean): boolean {
  // A multi-byte character may be cut at the end of the head: leave its bytes out.
  let end = head.length;
  if (!whole) while (end > 0 && end > head.length - 4 && (head[end - 1] & 0xc0) === 0x80) end--;
  if (!whole && end > 0 && head[end - 1] >= 0xc0) end--;
  let text: string;
  try {
    text = new TextDecoder('utf-8', {fatal: true}).decode(head.subarray(0, end));
  } catch {
    return false;
  }
  let control = 0;
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    if (c === 0) return false;
    if (c < 32 && ![9, 10, 12, 13, 27].includes(c)) control++;
  }
  return control * 100 <= text.length;
}

function kindOfFolder(dir: string): FileKind {
  return fs.existsSync(path.join(dir, CHECKPOINT_MARKERS.state)) || fs.existsSync(path.join(dir, CHECKPOINT_MARKERS.weights)) ? kind('checkpoint') : kind('folder');
}

/** The kind of the regular file open as `fd`, from its first bytes (and, for ONNX, its top-level fields). */
function kindOfBytes(fd: number, file: string, size: number): FileKind {
  const head = Buffer.alloc(Math.min(HEAD, size));
  fs.readSync(fd, head, 0, head.length, 0);
  if (size === 0) return kind('empty');
  if (head.length >= 30 && head.readUInt32LE(0) === 0x04034b50) return holdsPickle(fd, head, size) ? kind('pytorch-zip') : kind('zip');
  // A pickle starts with PROTO (0x80) and its protocol, 2 to 5; torch.save's legacy format pickles with protocol 2.
  if (head[0] === 0x80 && head.length > 1 && head[1] >= 2 && head[1] <= 5) return kind('pytorch-legacy');
  if (isSafetensors(head, size)) {
    const inCheckpoint = path.basename(file) === CHECKPOINT_MARKERS.weights && fs.existsSync(path.join(path.dirname(file), CHECKPOINT_MARKERS.state));
    return kind(inCheckpoint ? 'checkpoint-weights' : 'safetensors');
  }
  const top = onnxTop(fd, size);
  if (top !== null) return top.cbp.size > 0 ? kind('cbp-onnx', top.cbp) : kind('onnx');
  return isText(head, head.length === size) ? kind('text') : kind('binary');
}

/**
 * The kind of what `file` names. Reads at most a few kilobytes, plus the zip directory of a zip and the top-level
 * tags of a protobuf; an unreadable file is `binary` here and left to the reader, which says why.
 */
export function fileKind(file: string): FileKind {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return kind('missing');
  }
  if (st.isDirectory()) return kindOfFolder(file);
  if (!st.isFile()) return kind('special');
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return kind('binary');
  }
  try {
    return kindOfBytes(fd, file, st.size);
  } catch {
    return kind('binary');
  } finally {
    fs.closeSync(fd);
  }
}

/** "notes.txt: a text file" or, for a model cbp exported, "l.onnx: an ONNX model cbp exported (lenet5, bin)". */
export function describeFile(file: string, k: FileKind): string {
  const model = k.cbp.get('cbp.model');
  const constraint = k.cbp.get('cbp.constraint');
  const what = k.kind === 'cbp-onnx' && model !== undefined ? `${KIND_TEXT[k.kind]} (${[model, constraint].filter((v) => v !== undefined && v !== '').join(', ')})` : KIND_TEXT[k.kind];
  return `${file}: ${what}`;
}
