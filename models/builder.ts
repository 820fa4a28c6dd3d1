import {INPUT, type ModelSpec, type Pair, type SpecNode} from './spec';

/**
 * A small helper that chains nodes so architecture files read like their PyTorch definitions:
 * each call appends a node fed by the previous one and returns its name.
 */
export class SpecBuilder {
  private readonly nodes: SpecNode[] = [];
  private last: string = INPUT;

  constructor(private readonly name: string, private readonly inputShape: readonly [number, number, number]) {}

  get current(): string {
    return this.last;
  }

  from(name: string): this {
    this.last = name;
    return this;
  }

  conv(name: string, inChannels: number, outChannels: number, kernel: number, opts: {stride?: number; padding?: number; bias?: boolean; constrained: boolean}): string {
    const k: Pair = [kernel, kernel];
    const s = opts.stride ?? 1;
    const p = opts.padding ?? 0;
    return this.push({kind: 'conv2d', name, input: this.last, inChannels, outChannels, kernel: k, stride: [s, s], padding: [p, p], bias: opts.bias ?? false, constrained: opts.constrained});
  }

  dense(name: string, inFeatures: number, outFeatures: number, opts: {bias?: boolean; constrained: boolean}): string {
    return this.push({kind: 'dense', name, input: this.last, inFeatures, outFeatures, bias: opts.bias ?? false, constrained: opts.constrained});
  }

  bn(name: string, channels: number, eps = 1e-5, momentum = 0.1): string {
    return this.push({kind: 'batchnorm', name, input: this.last, channels, eps, momentum});
  }

  relu(name: string): string {
    return this.push({kind: 'relu', name, input: this.last});
  }

  maxpool(name: string, kernel: number, stride: number, padding = 0): string {
    return this.push({kind: 'maxpool', name, input: this.last, kernel: [kernel, kernel], stride: [stride, stride], padding: [padding, padding]});
  }

  avgpool(name: string, kernel: number, stride: number, padding = 0): string {
    return this.push({kind: 'avgpool', name, input: this.last, kernel: [kernel, kernel], stride: [stride, stride], padding: [padding, padding]});
  }

  globalAvgPool(name: string): string {
    return this.push({kind: 'globalavgpool', name, input: this.last});
  }

  add(name: string, a: string, b: string): string {
    return this.push({kind: 'add', name, inputs: [a, b]});
  }

  flatten(name: string): string {
    return this.push({kind: 'flatten', name, input: this.last});
  }

  build(numClasses: number): ModelSpec {
    return {name: this.name, inputShape: this.inputShape, numClasses, nodes: [...this.nodes], output: this.last};
  }

  private push(node: SpecNode): string {
    if (this.nodes.some((n) => n.name === node.name)) throw new Error(`model ${this.name}: duplicate node name '${node.name}'`);
    this.nodes.push(node);
    this.last = node.name;
    return node.name;
  }
}
