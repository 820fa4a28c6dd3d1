/** A tiny pickle assembler for writing hostile checkpoints by structure (protocol 2 opcodes). */
export class PickleWriter {
  private readonly parts: Buffer[] = [Buffer.from([0x80, 0x02])];

  op(...bytes: number[]): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  int(v: number): this {
    const b = Buffer.alloc(5);
    b[0] = 0x4a;
    b.writeInt32LE(v, 1);
    return this.raw(b);
  }
  /** An integer of any size (LONG1), e.g. 2**62. */
  long(v: bigint): this {
    const bytes: number[] = [];
    let x = v;
    for (let i = 0; i < 9; i++) {
      bytes.push(Number(x & 0xffn));
      x >>= 8n;
    }
    return this.raw(Buffer.from([0x8a, bytes.length, ...bytes]));
  }
  float(v: number): this {
    const b = Buffer.alloc(9);
    b[0] = 0x47;
    b.writeDoubleBE(v, 1);
    return this.raw(b);
  }
  str(s: string): this {
    const body = Buffer.from(s, 'utf8');
    const head = Buffer.alloc(5);
    head[0] = 0x58;
    head.writeUInt32LE(body.length, 1);
    return this.raw(Buffer.concat([head, body]));
  }
  global(module: string, name: string): this {
    return this.raw(Buffer.from(`c${module}\n${name}\n`, 'latin1'));
  }
  put(i: number): this {
    const b = Buffer.alloc(5);
    b[0] = 0x72;
    b.writeUInt32LE(i, 1);
    return this.raw(b);
  }
  get(i: number): this {
    const b = Buffer.alloc(5);
    b[0] = 0x6a;
    b.writeUInt32LE(i, 1);
    return this.raw(b);
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  list(): this {
    return this.op(0x6c);
  }
  emptyDict(): this {
    return this.op(0x7d);
  }
  setitems(): this {
    return this.op(0x75);
  }
  reduce(): this {
    return this.op(0x52);
  }
  none(): this {
    return this.op(0x4e);
  }
  stop(): Buffer {
    this.parts.push(Buffer.from('.'));
    return Buffer.concat(this.parts);
  }
  /** Pushes a tuple of integers (or of raw writes, via the callback). */
  ints(values: readonly number[]): this {
    this.mark();
    for (const v of values) {
      if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) this.int(v);
      else this.long(BigInt(v));
    }
    return this.tuple();
  }
}

export interface TensorSpec {
  readonly key: string;
  readonly storage: string;
  readonly numel: number | bigint;
  readonly offset: number;
  readonly size: readonly number[];
  readonly stride: readonly number[];
  readonly dtype?: string;
}

/** `{'model_state_dict': {key: tensor, …}}` as torch.save pickles it, each tensor through _rebuild_tensor_v2. */
export function stateDictPickle(tensors: readonly TensorSpec[], extra?: (w: PickleWriter) => void): Buffer {
  const w = new PickleWriter();
  w.emptyDict().mark().str('model_state_dict').emptyDict().mark();
  for (const t of tensors) {
    w.str(t.key).global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global('torch', t.dtype ?? 'FloatStorage').str(t.storage).str('cpu');
    if (typeof t.numel === 'bigint') w.long(t.numel);
    else if (t.numel >= -(2 ** 31) && t.numel < 2 ** 31) w.int(t.numel);
    else w.long(BigInt(t.numel));
    w.tuple().op(0x51); // BINPERSID
    if (t.offset >= -(2 ** 31) && t.offset < 2 ** 31) w.int(t.offset);
    else w.long(BigInt(t.offset));
    w.ints(t.size).ints(t.stride).op(0x89).none().tuple().reduce();
  }
  w.setitems();
  extra?.(w);
  w.setitems();
  return w.stop();
}
