import {execFile} from 'node:child_process';

/** A protobuf field: length-delimited (bytes, strings, messages) or a varint; every length and value here is < 128. */
const bytesField = (field: number, bytes: readonly number[]): number[] => [(field << 3) | 2, bytes.length, ...bytes];
const stringField = (field: number, s: string): number[] => bytesField(field, [...Buffer.from(s, 'latin1')]);
const varintField = (field: number, v: number): number[] => [field << 3, v];

/** ValueInfoProto of a float tensor of shape [1]: name, TypeProto{tensor_type{elem_type FLOAT, shape{dim{1}}}}. */
const floatOfOne = (name: string): number[] =>
  [...stringField(1, name), ...bytesField(2, bytesField(1, [...varintField(1, 1), ...bytesField(2, bytesField(1, varintField(1, 1)))]))];

/** The smallest model: y = Identity(x), IR 8, opset 13; a WebGPU session on it needs only a GPU adapter. */
const IDENTITY_MODEL = Uint8Array.from([
  ...varintField(1, 8),
  ...bytesField(8, varintField(2, 13)),
  ...bytesField(7, [
    ...bytesField(1, [...stringField(1, 'x'), ...stringField(2, 'y'), ...stringField(4, 'Identity')]),
    ...stringField(2, 'probe'),
    ...bytesField(11, floatOfOne('x')),
    ...bytesField(12, floatOfOne('y')),
  ]),
]);

/** How long the probe may take: starting Node.js and ONNX Runtime, then asking Dawn for an adapter. */
const PROBE_MS = 60_000;

let probed: Promise<string | undefined> | undefined;

/**
 * Whether ONNX Runtime's WebGPU provider starts here: undefined when it does, else ONNX Runtime's reason in one line.
 * Asked in a child process whose stderr is dropped, because Dawn writes its warnings (a missing Vulkan loader, with
 * the path of its C++ source) straight to the process's stderr, below ONNX Runtime's log levels (measured: neither
 * env.logLevel 'fatal' nor logSeverityLevel 4 silences it). Asked once per process.
 */
export function probeWebgpu(): Promise<string | undefined> {
  probed ??= new Promise((resolve) => {
    const script =
      `const ort = require(${JSON.stringify(require.resolve('onnxruntime-node'))});` +
      `ort.InferenceSession.create(Buffer.from(${JSON.stringify(Buffer.from(IDENTITY_MODEL).toString('base64'))}, 'base64'), {executionProviders: ['webgpu'], logSeverityLevel: 3})` +
      `.then(() => process.exit(0), (e) => { process.stdout.write(String(e && e.message || e).split('\\n')[0]); process.exit(3); });`;
    execFile(process.execPath, ['-e', script], {timeout: PROBE_MS, encoding: 'utf8'}, (err, stdout) => {
      if (err === null) resolve(undefined);
      else resolve(stdout.trim() !== '' ? stdout.trim() : err.killed ? `no answer within ${PROBE_MS / 1000} s` : `the probe ended with ${err.code ?? err.signal ?? 'an error'}`);
    });
  });
  return probed;
}
