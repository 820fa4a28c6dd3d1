import {MAX_IMPORT_SIDE, notImage, type KindDef, type NodeBase, type OnnxAttributes, type Ops, type Pair} from './kind';

/**
 * ONNX's Resize of an image to a fixed height and width: what torch.onnx.export writes for `F.interpolate` and
 * `nn.Upsample` (mode nearest, and bilinear with align_corners False or True). On a fixed size the resize is linear
 * per axis, y = A_h · x · A_wᵀ, with A_h [outH, H] and A_w [outW, W] built here from the mode and the coordinate
 * transformation as ONNX Runtime computes them (`resizeMatrix`); the gradient is A_hᵀ · gy · A_w, two MatMuls with
 * constant matrices, which is exactly the sum PyTorch's upsample backward takes. The inference export writes the
 * Resize op itself, with the file's scales or sizes, so the logits are the file's; the training forward writes the
 * op or the same MatMuls, whichever measured faster (`MATMUL_FORWARD_SIDE`).
 */
export interface ResizeNode extends NodeBase {
  readonly kind: 'resize';
  readonly input: string;
  /** Output height and width. */
  readonly size: Pair;
  readonly mode: ResizeMode;
  /** ONNX's coordinate_transformation_mode. */
  readonly coordinates: Coordinates;
  /** ONNX's nearest_mode (read in mode nearest only). */
  readonly nearest: NearestMode;
  /**
   * The file's scales on height and width, when it gave scales (F.interpolate's scale_factor): ONNX Runtime maps
   * coordinates through them, not through outH / H. Absent when the file gave sizes.
   */
  readonly scaleH?: number;
  readonly scaleW?: number;
}

export const RESIZE_MODES = ['nearest', 'linear'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];
export const COORDINATES = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric'] as const;
export type Coordinates = (typeof COORDINATES)[number];
export const NEAREST_MODES = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'] as const;
export type NearestMode = (typeof NEAREST_MODES)[number];

/** The largest output side, so that a resize matrix (outN × inN float32, inN up to 4096) stays within 32 MiB. */
export const MAX_RESIZE_SIDE = 2048;

/** Output length of an axis of `n` resized by `scale` as ONNX Runtime computes it: the float32 product, truncated. */
export const scaledLength = (n: number, scale: number): number => Math.trunc(Math.fround(Math.fround(scale) * n));

/** The coordinate scale of one axis: the file's scale, or out / in in float32 as ONNX Runtime derives it from sizes. */
const axisScale = (inN: number, outN: number, given: number | undefined): number => Math.fround(given ?? Math.fround(outN) / Math.fround(inN));

/**
 * The [outN, inN] matrix of one axis (row-major): output position i is Σ_j A[i, j]·x[j]. The source coordinate is
 * ONNX's coordinate transformation in float32 as ONNX Runtime evaluates it; nearest rounds it by `nearest` and clamps
 * it to the input, linear clamps it to [0, inN − 1] and weighs its two neighbours (one, twice by half, at the edge).
 */
export function resizeMatrix(inN: number, outN: number, mode: ResizeMode, coordinates: Coordinates, nearest: NearestMode, given?: number): Float32Array {
  const f = Math.fround;
  const scale = axisScale(inN, outN, given);
  const a = new Float32Array(outN * inN);
  for (let i = 0; i < outN; i++) {
    let x: number;
    if (coordinates === 'asymmetric') x = f(i / scale);
    else if (coordinates === 'align_corners') x = outN === 1 ? 0 : f(f(i * (inN - 1)) / (outN - 1));
    else if (coordinates === 'pytorch_half_pixel' && outN <= 1) x = 0;
    else x = f(f(f(i + 0.5) / scale) - 0.5);
    if (mode === 'nearest') {
      let j: number;
      if (nearest === 'floor') j = Math.floor(x);
      else if (nearest === 'ceil') j = Math.ceil(x);
      else if (nearest === 'round_prefer_floor') j = x === Math.floor(x) + 0.5 ? Math.floor(x) : roundAway(x);
      else j = roundAway(x);
      a[i * inN + Math.min(inN - 1, Math.max(0, j))] = 1;
      continue;
    }
    const c = Math.max(0, Math.min(x, inN - 1));
    const j1 = Math.min(Math.trunc(c), inN - 1);
    const j2 = Math.min(j1 + 1, inN - 1);
    const [w1, w2] = j1 === j2 ? [0.5, 0.5] : [f(Math.abs(c - j2)), f(Math.abs(c - j1))];
    a[i * inN + j1] += w1;
    a[i * inN + j2] += w2;
  }
  return a;
}

/** C's round: halves away from zero. */
const roundAway = (x: number): number => Math.sign(x) * Math.round(Math.abs(x));

/**
 * One axis's matrix as a constant [rows, cols] of the graph: A [outN, inN], or its transpose [inN, outN], shared
 * between the nodes that resize alike.
 */
function axisMatrix(o: Ops, n: ResizeNode, inN: number, outN: number, given: number | undefined, transpose: boolean): string {
  const a = resizeMatrix(inN, outN, n.mode, n.coordinates, n.nearest, given);
  const key = `resize:${n.mode}:${n.coordinates}:${n.mode === 'nearest' ? n.nearest : ''}:${inN}:${outN}:${given ?? ''}:${transpose ? 't' : ''}`;
  if (!transpose) return o.f32Table(key, [outN, inN], a);
  const t = new Float32Array(a.length);
  for (let i = 0; i < outN; i++) for (let j = 0; j < inN; j++) t[j * outN + i] = a[i * inN + j];
  return o.f32Table(key, [inN, outN], t);
}

/** The Resize op of the node on x [N, C, H, W] (at opset 13 and every later one: the attributes are the same). */
function resizeOp(n: ResizeNode, o: Ops, x: string): [string, string[], Record<string, string>] {
  const attrs: Record<string, string> = {mode: n.mode, coordinate_transformation_mode: n.coordinates, ...(n.mode === 'nearest' ? {nearest_mode: n.nearest} : {})};
  // roi (and scales, where sizes are given) left out with an empty name, as torch writes them.
  if (n.scaleH !== undefined && n.scaleW !== undefined) return ['Resize', [x, '', o.f32Vector([1, 1, n.scaleH, n.scaleW])], attrs];
  // Sizes with the batch of x: [N, C] of its shape and the fixed output side.
  const sizes = o.op('Concat', [o.op('Slice', [o.op('Shape', [x]), o.i64([0]), o.i64([2])]), o.i64([n.size[0], n.size[1]])], {axis: 0});
  return ['Resize', [x, '', '', sizes], attrs];
}

/**
 * The largest output side at which the training forward of a bilinear resize runs as the two MatMuls rather than the
 * Resize op. Measured here on two cores (ONNX Runtime 1.30, ×2, median of 15): bilinear 32×16×14² 1.0 against 1.7 ms,
 * 32×16×28² 6–9 against 11–13 ms, 8×32×56² on a par (18–24 ms), 8×32×112² 100 against 90 ms; nearest 1.0–1.2 ms on
 * a par at 14², Resize 3–8 against MatMul 9 ms at 28². So nearest always, bilinear above 64, runs as Resize.
 */
const MATMUL_FORWARD_SIDE = 64;

export const resize: KindDef<ResizeNode> = {
  kind: 'resize',
  inputs: (n) => [n.input],
  shape: (n, [x]) => [x[0], n.size[0], n.size[1]],
  check(n, [x]) {
    const bad = notImage(x);
    if (bad !== undefined) return bad;
    if (n.scaleH !== undefined && scaledLength(x[1], n.scaleH) !== n.size[0]) return `scales height ${x[1]} by ${n.scaleH} to ${scaledLength(x[1], n.scaleH)}, not ${n.size[0]}`;
    if (n.scaleW !== undefined && scaledLength(x[2], n.scaleW) !== n.size[1]) return `scales width ${x[2]} by ${n.scaleW} to ${scaledLength(x[2], n.scaleW)}, not ${n.size[1]}`;
    return undefined;
  },
  read(r) {
    const scaled = r.has('scaleH') || r.has('scaleW');
    return {
      kind: 'resize',
      name: r.name,
      input: r.value('input'),
      size: r.pair('size', 1, MAX_RESIZE_SIDE),
      mode: r.word('mode', RESIZE_MODES),
      coordinates: r.word('coordinates', COORDINATES),
      nearest: r.word('nearest', NEAREST_MODES),
      ...(scaled ? {scaleH: r.num('scaleH', 1 / MAX_IMPORT_SIDE, MAX_RESIZE_SIDE), scaleW: r.num('scaleW', 1 / MAX_IMPORT_SIDE, MAX_RESIZE_SIDE)} : {}),
    };
  },
  params: () => [],
  onnx(n, g) {
    const [type, inputs, attrs] = resizeOp(n, g.ops, g.value(n.input));
    g.emit(n, type, inputs, attrs);
  },
  train(n, g) {
    const o = g.ops;
    const x = g.value(n.input);
    const xs = g.shape(n.input);
    const [h, w] = [xs[1], xs[2]];
    const [oh, ow] = n.size;
    if (n.mode === 'linear' && Math.max(oh, ow) <= MATMUL_FORWARD_SIDE) {
      // y = A_h · (x · A_wᵀ): [outH, H] × [N, C, H, outW] broadcasts over N, C.
      o.op('MatMul', [axisMatrix(o, n, h, oh, n.scaleH, false), o.op('MatMul', [x, axisMatrix(o, n, w, ow, n.scaleW, true)])], {}, n.name);
    } else {
      const [type, inputs, attrs] = resizeOp(n, o, x);
      o.op(type, inputs, attrs, n.name);
    }
    g.backward(() => {
      const gy = g.gradOf(n.name);
      if (gy === undefined || !g.needsGrad(n.input)) return;
      // gx = A_hᵀ · gy · A_w.
      g.accumulate(x, o.op('MatMul', [axisMatrix(o, n, h, oh, n.scaleH, true), o.op('MatMul', [gy, axisMatrix(o, n, w, ow, n.scaleW, false)])]));
    });
  },
  fromOnnx: {
    ops: ['Resize'],
    refuses: notResize,
    map(o) {
      const x = o.input();
      if (x.shape.length !== 3) return `Resize of a value that is not an image [C, H, W] (its per-sample shape is [${x.shape.join(', ')}])`;
      const roi = o.constant(1);
      if (o.given(1) && (roi === undefined || roi.values.length > 0)) return 'Resize with a region of interest (roi)';
      const scales = o.given(2) ? o.constant(2) : undefined;
      const sizes = o.given(3) ? o.constant(3) : undefined;
      if ((o.given(2) && scales === undefined) || (o.given(3) && sizes === undefined)) return 'Resize to a size computed from the input\'s values (cbp resizes to a fixed size)';
      const [c, h, w] = x.shape;
      let size: Pair;
      let scale: {scaleH: number; scaleW: number} | undefined;
      if (scales !== undefined && scales.values.length > 0) {
        const v = Array.from(scales.values, Number);
        if (scales.kind !== 'float' || v.length !== 4) return o.fail(`has scales [${v.join(', ')}], expected four float scales of [N, C, H, W]`);
        if (v[0] !== 1 || v[1] !== 1) return `Resize that scales the batch or the channels (scales [${v.join(', ')}])`;
        if (!v.every((s) => Number.isFinite(s) && s > 0)) return o.fail(`has scales [${v.join(', ')}], expected positive finite values`);
        size = [scaledLength(h, v[2]), scaledLength(w, v[3])];
        scale = {scaleH: Math.fround(v[2]), scaleW: Math.fround(v[3])};
      } else if (sizes !== undefined && sizes.values.length > 0) {
        const v = sizes.values;
        if (sizes.kind !== 'int' || v.length !== 4) return o.fail(`has sizes [${v.join(', ')}], expected four integer sizes of [N, C, H, W]`);
        if (v[1] !== c) return `Resize that changes the channels (sizes [${v.join(', ')}] of an input of ${c} channels)`;
        if (typeof v[2] !== 'number' || typeof v[3] !== 'number') return o.fail(`has sizes [${v.join(', ')}], expected fixed sizes`);
        size = [v[2], v[3]];
      } else {
        return o.fail('has neither scales nor sizes');
      }
      if (!size.every((s) => Number.isSafeInteger(s) && s >= 1 && s <= MAX_RESIZE_SIDE)) return `Resize to ${size.join('×')}; cbp resizes to sides of 1 to ${MAX_RESIZE_SIDE}`;
      const mode = o.string('mode') || 'nearest';
      const node: ResizeNode = {
        kind: 'resize',
        name: o.layerName(undefined, 'resize'),
        input: x.name,
        size,
        // notResize refused every other mode, transformation and nearest_mode.
        mode: mode === 'linear' ? 'linear' : 'nearest',
        coordinates: COORDINATES.find((m) => m === (o.string('coordinate_transformation_mode') || 'half_pixel')) ?? 'half_pixel',
        nearest: NEAREST_MODES.find((m) => m === (o.string('nearest_mode') || 'round_prefer_floor')) ?? 'round_prefer_floor',
        ...scale,
      };
      o.emit(node, [x.shape]);
      return undefined;
    },
  },
};

/** Why a Resize is not one cbp maps, from its attributes alone: what PyTorch's other modes and options export as. */
function notResize(a: OnnxAttributes): string | undefined {
  const mode = a.string('mode') || 'nearest';
  if (mode === 'cubic') return 'Resize with mode cubic (F.interpolate\'s bicubic; cbp maps nearest and bilinear)';
  if (!RESIZE_MODES.some((m) => m === mode)) return `Resize with mode ${mode}`;
  const coordinates = a.string('coordinate_transformation_mode') || 'half_pixel';
  if (!COORDINATES.some((m) => m === coordinates)) return `Resize with coordinate_transformation_mode ${coordinates}`;
  const nearest = a.string('nearest_mode') || 'round_prefer_floor';
  if (mode === 'nearest' && !NEAREST_MODES.some((m) => m === nearest)) return `Resize with nearest_mode ${nearest}`;
  if (a.int('antialias', 0) !== 0) return 'Resize with antialias (F.interpolate\'s antialias=True)';
  if (a.int('exclude_outside', 0) !== 0) return 'Resize with exclude_outside';
  if (a.ints('axes') !== undefined) return 'Resize with axes';
  const policy = a.string('keep_aspect_ratio_policy');
  if (policy !== '' && policy !== 'stretch') return `Resize with keep_aspect_ratio_policy ${policy}`;
  return undefined;
}
