import {MAX_IMPORT_SIDE, MAX_WINDOW, type Attr, type KindDef, type NodeBase, type Ops, type Pair} from './kind';

/**
 * torchvision Swin's window partition and its reverse (swin_transformer.py, shifted_window_attention), per sample and
 * the batch kept first: a channels-last image [H, W, C] padded with zeros at the bottom and right to a multiple of the
 * window, rolled up and left by the shift (torch.roll(x, (−sh, −sw), (1, 2))), cut into windows of wh × ww read row by
 * row, [nh·nw, wh·ww, C] (`merge` absent); or such windows put back, rolled down and right by the shift and cropped to
 * [H, W, C] (`merge`). torch merges the batch with the windows ([N·nW, T, C]); here the windows are an axis of each
 * sample, [N, nW, T, C], so that every node after it keeps the batch first. Each direction is a permutation of the
 * values (with zeros added or dropped), so each one's gradient is the other applied to the upstream gradient.
 */
export interface WindowsNode extends NodeBase {
  readonly kind: 'windows';
  readonly input: string;
  /** The image's height and width, before padding. */
  readonly size: Pair;
  readonly window: Pair;
  /** The roll, up and left, before the partition (0 for none; torchvision's shift_size after it zeroes it). */
  readonly shift: Pair;
  /** The reverse: windows [nW, T, C] back to the image [H, W, C]. */
  readonly merge?: boolean;
}

/** The padded image's height and width: each side rounded up to a multiple of the window. */
export const paddedSize = (size: Pair, window: Pair): Pair => [Math.ceil(size[0] / window[0]) * window[0], Math.ceil(size[1] / window[1]) * window[1]];

/** The windowed shape [nW, T, C] of an image of `size` with `channels`. */
function windowed(n: WindowsNode, channels: number): number[] {
  const [ph, pw] = paddedSize(n.size, n.window);
  return [(ph / n.window[0]) * (pw / n.window[1]), n.window[0] * n.window[1], channels];
}

type Last = (type: string, inputs: readonly string[], attrs?: Record<string, Attr>) => string;

/** x rolled on a full axis of `length` positions so that position `from` comes first: Concat(x[from:], x[:from]). */
function roll(o: Ops, x: string, axis: number, from: number, length: number, last?: Last): string {
  const part = (a: number, b: number): string => o.op('Slice', [x, o.i64([a]), o.i64([b]), o.i64([axis])]);
  const inputs = [part(from, length), part(0, from)];
  return last === undefined ? o.op('Concat', inputs, {axis}) : last('Concat', inputs, {axis});
}

/** The ops of the partition of x ([N, H, W, C]) into windows ([N, nW, T, C]); `last` writes the last one. */
function partition(o: Ops, n: WindowsNode, x: string, channels: number, last: Last): string {
  const [ph, pw] = paddedSize(n.size, n.window);
  const [wh, ww] = n.window;
  let y = x;
  if (ph !== n.size[0] || pw !== n.size[1]) y = o.op('Pad', [y, o.i64([0, 0, 0, 0, 0, ph - n.size[0], pw - n.size[1], 0])]);
  if (n.shift[0] > 0) y = roll(o, y, 1, n.shift[0], ph);
  if (n.shift[1] > 0) y = roll(o, y, 2, n.shift[1], pw);
  y = o.op('Reshape', [y, o.i64([-1, ph / wh, wh, pw / ww, ww, channels])]);
  y = o.op('Transpose', [y], {perm: [0, 1, 3, 2, 4, 5]});
  return last('Reshape', [y, o.i64([-1, ...windowed(n, channels)])]);
}

/** The ops of the reverse: windows ([N, nW, T, C]) back to the image ([N, H, W, C]); `last` writes the last one. */
function merge(o: Ops, n: WindowsNode, x: string, channels: number, last: Last): string {
  const [ph, pw] = paddedSize(n.size, n.window);
  const [wh, ww] = n.window;
  const cropped = ph !== n.size[0] || pw !== n.size[1];
  let y = o.op('Reshape', [x, o.i64([-1, ph / wh, pw / ww, wh, ww, channels])]);
  y = o.op('Transpose', [y], {perm: [0, 1, 3, 2, 4, 5]});
  const rolls = [n.shift[0] > 0, n.shift[1] > 0];
  const image = [-1, ph, pw, channels];
  y = rolls[0] || rolls[1] || cropped ? o.op('Reshape', [y, o.i64(image)]) : last('Reshape', [y, o.i64(image)]);
  if (rolls[0]) y = roll(o, y, 1, ph - n.shift[0], ph, rolls[1] || cropped ? undefined : last);
  if (rolls[1]) y = roll(o, y, 2, pw - n.shift[1], pw, cropped ? undefined : last);
  if (cropped) y = last('Slice', [y, o.i64([0, 0]), o.i64(n.size), o.i64([1, 2])]);
  return y;
}

const image = (n: WindowsNode, x: readonly number[]): readonly number[] => (n.merge === true ? [...n.size, x[2]] : x);

export const windows: KindDef<WindowsNode> = {
  kind: 'windows',
  inputs: (n) => [n.input],
  shape: (n, [x]) => (n.merge === true ? [...n.size, x[2]] : windowed(n, x[2])),
  check: (n, [x]) => {
    if (x.length !== 3) return `expects ${n.merge === true ? 'windows [nW, T, C]' : 'a channels-last image [H, W, C]'}, its input is [${x.join(', ')}]`;
    const padded = paddedSize(n.size, n.window);
    if (n.shift.some((s, i) => s >= padded[i])) return `shifts by [${n.shift.join(', ')}], not less than its padded ${padded.join('×')} image`;
    if (n.merge === true) {
      const w = windowed(n, x[2]);
      return x.join() === w.join() ? undefined : `puts back windows [${w.join(', ')}] of a ${n.size.join('×')} image (window ${n.window.join('×')}), its input is [${x.join(', ')}]`;
    }
    return x[0] === n.size[0] && x[1] === n.size[1] ? undefined : `cuts a ${n.size.join('×')} image into windows, its input is [${x.join(', ')}]`;
  },
  read: (r) => ({
    kind: 'windows',
    name: r.name,
    input: r.value('input'),
    size: r.pair('size', 1, MAX_IMPORT_SIDE),
    window: r.pair('window', 1, MAX_WINDOW),
    shift: r.pair('shift', 0, MAX_WINDOW),
    ...(r.has('merge') && r.flag('merge') ? {merge: true} : {}),
  }),
  params: () => [],
  onnx(n, g) {
    const channels = image(n, g.shape(n.input))[2];
    const last: Last = (type, inputs, attrs) => {
      g.emit(n, type, inputs, attrs);
      return n.name;
    };
    (n.merge === true ? merge : partition)(g.ops, n, g.value(n.input), channels, last);
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const channels = image(n, g.shape(n.input))[2];
    const [forward, backward] = n.merge === true ? [merge, partition] : [partition, merge];
    forward(o, n, x, channels, (type, inputs, attrs) => o.op(type, inputs, attrs, n.name));
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      g.accumulate(x, backward(o, n, gy, channels, (type, inputs, attrs) => o.op(type, inputs, attrs)));
    });
  },
  fromOnnx: {
    // Written by the importer's rewrite of torchvision's shifted-window attention (onnx/import/swin.ts), never by torch.
    ops: ['SwinWindows'],
    map(o) {
      const x = o.input();
      const pair = (name: string, min: number): Pair => {
        const v = o.ints(name) ?? [];
        if (v.length !== 2 || v.some((d) => !Number.isSafeInteger(d) || d < min || d > MAX_WINDOW)) o.fail(`has ${name} [${v.join(', ')}], expected two integers from ${min}`);
        return [v[0], v[1]];
      };
      const isMerge = o.int('merge', 0) !== 0;
      // The image's size: the input's own, or (merging) that of the image the windows were cut from (input 1).
      const from = isMerge ? o.computed(1) : x;
      if (from === undefined || from.shape.length !== 3) return 'SwinWindows without the image it puts windows back into';
      const node: WindowsNode = {kind: 'windows', name: o.layerName(), input: x.name, size: [from.shape[0], from.shape[1]], window: pair('window', 1), shift: pair('shift', 0), ...(isMerge ? {merge: true} : {})};
      o.emit(node, [x.shape]);
      return undefined;
    },
  },
};
