import {listed, shown} from '../../src/core/shown';

/**
 * The one message that refuses a model, in PyTorch's words: the unsupported nodes grouped by the module path
 * torch.onnx.export wrote into their names (`/blocks.0/norm1/ReduceMean` → `blocks.0.norm1`), modules that look
 * alike (the same layer, the same refusals) in one group, each named by the layer it looks like where a small table
 * of op patterns recognises it, with what of it is refused. The message stays under MAX_REFUSAL_MESSAGE characters
 * whatever the model; the full list goes with the error as its details (`--json`).
 */

/** One node the import refused (`reason`), or one it did not judge because it reads a refused node's value. */
export interface RefusedNode {
  readonly name: string;
  readonly op: string;
  /** The PyTorch module path in its name, or undefined for a node outside any module (or named otherwise). */
  readonly module: string | undefined;
  readonly reason?: string;
}

/** The most characters of the whole refusal, the file's path and what cbp maps included. */
export const MAX_REFUSAL_MESSAGE = 2000;

/**
 * Layers recognised by the ops among one module's nodes (all of them, mapped or not), the first match winning. A
 * small table of how PyTorch exports them, independent of which kinds cbp has: a pattern a kind maps refuses
 * nothing and never shows here.
 */
const LOOKS: readonly Look[] = [
  {name: 'attention', layer: 'attention', ops: ['Softmax', 'MatMul']},
  {name: 'LayerNorm', layer: 'LayerNorm', ops: ['LayerNormalization']},
  // nn.LayerNorm before opset 17: mean, x − mean, its square's mean, + eps, √, ÷ (then × weight + bias).
  {name: 'LayerNorm-like pattern', layer: 'LayerNorm', ops: ['ReduceMean', 'Sub', 'Pow', 'Sqrt', 'Div']},
  // nn.GroupNorm: Reshape to [N, G, −1], InstanceNormalization, Reshape back, × weight + bias.
  {name: 'GroupNorm-like pattern', layer: 'GroupNorm', ops: ['InstanceNormalization']},
  // nn.GELU before opset 20: x / √2, Erf, + 1, × x, × 0.5.
  {name: 'GELU', layer: 'GELU', ops: ['Erf', 'Div', 'Add', 'Mul']},
];

interface Look {
  /** How the message names the group. */
  readonly name: string;
  /** The layer, as a kind's reason would name it (a reason that does adds nothing to the look). */
  readonly layer: string;
  readonly ops: readonly string[];
}

/** What a module's ops look like, or undefined. */
function lookOf(ops: ReadonlySet<string>): Look | undefined {
  return LOOKS.find((l) => l.ops.every((op) => ops.has(op)));
}

interface Group {
  readonly look: string | undefined;
  readonly modules: (string | undefined)[];
  /** Each reason with the nodes it refused (in the walk's order). */
  readonly reasons: Map<string, string[]>;
}

/**
 * The message (after `FILE: cannot import this model; `, with `prefix` characters before it) and the details.
 * `moduleOps`: the op types of every node the output needs, by module path; `tail`: what cbp maps, last.
 */
export function refusalMessage(nodes: readonly RefusedNode[], moduleOps: ReadonlyMap<string, ReadonlySet<string>>, tail: string, prefix: number): {message: string; details: {unsupported: object[]; notJudged: object[]}} {
  const refused = nodes.filter((n) => n.reason !== undefined);
  const unjudged = nodes.filter((n) => n.reason === undefined);
  // Each module's refusals, then modules of the same look and the same reasons (and counts) as one group.
  const byModule = new Map<string | undefined, Map<string, string[]>>();
  for (const n of refused) {
    const reasons = byModule.get(n.module) ?? new Map<string, string[]>();
    byModule.set(n.module, reasons);
    const reason = n.reason ?? '';
    const names = reasons.get(reason);
    if (names !== undefined) names.push(n.name);
    else reasons.set(reason, [n.name]);
  }
  const groups = new Map<string, Group>();
  for (const [module, reasons] of byModule) {
    const found = module === undefined ? undefined : lookOf(moduleOps.get(module) ?? new Set());
    // A look every reason names already (a LayerNormalization; a GELU's or a GroupNorm's pattern broken) adds nothing.
    const look = found === undefined || [...reasons.keys()].every((r) => r.includes(found.layer)) ? undefined : found.name;
    // Outside any module, and in a module of no look that no other module resembles, the node names stand alone.
    const key = module === undefined ? '\u0000top' : JSON.stringify([look ?? '', ...[...reasons].map(([r, ns]) => [r, ns.length])]);
    const group = groups.get(key);
    if (group === undefined) {
      groups.set(key, {look, modules: [module], reasons: new Map([...reasons].map(([r, ns]) => [r, [...ns]]))});
    } else {
      group.modules.push(module);
      for (const [r, ns] of reasons) group.reasons.get(r)?.push(...ns);
    }
  }
  // Recognised layers first, then what repeats over more modules, then the walk's order.
  const ordered = [...groups.values()].sort((a, b) => Number(a.look === undefined) - Number(b.look === undefined) || b.modules.length - a.modules.length);

  const after = [...count(unjudged.map((n) => n.op))].map(([op, k]) => `${shown(op, 40)} ×${k}`);
  const reading = after.length === 0 ? '' : `; not judged, as they read values of those nodes: ${listed(after, 8, String)}`;
  // What is left for the groups once everything else is counted (the cut's own words included).
  const budget = Math.max(400, MAX_REFUSAL_MESSAGE - prefix - tail.length - reading.length - 140);
  let text = '';
  let shownGroups = 0;
  for (const group of ordered) {
    const room = budget - text.length - (shownGroups > 0 ? 2 : 0);
    const rendered = render(group, Math.min(room, Math.max(300, Math.floor(budget / 2))));
    if (shownGroups > 0 && rendered.length > room) break;
    text += `${shownGroups > 0 ? '; ' : ''}${rendered}`;
    shownGroups++;
  }
  if (shownGroups < ordered.length) {
    const left = ordered.length - shownGroups;
    text += `; and ${left} more group${left === 1 ? '' : 's'} of unsupported nodes (${refused.length} in all; --json lists every node)`;
  }
  const show = (n: RefusedNode): object => ({node: shown(n.name, 200), op: shown(n.op, 40), module: n.module === undefined ? null : shown(n.module, 200), ...(n.reason !== undefined ? {reason: n.reason} : {})});
  return {
    message: `unsupported: ${text}${reading}. ${tail}`,
    details: {unsupported: refused.map(show), notJudged: unjudged.map(show)},
  };
}

function count(items: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}

/** One reason with its nodes: `Pow (3 nodes: a, b, c)`. */
const withNodes = (reason: string, names: readonly string[], max: number): string => `${reason} (${names.length} node${names.length > 1 ? 's' : ''}: ${listed(names, max, (n) => shown(String(n), 60))})`;

/**
 * A group in at most `room` characters. One module (or the nodes outside any module) names its nodes: of no look,
 * as `Pow (2 nodes: …); Sqrt (1 node: …)`; of a recognised layer, as `LayerNorm in norm: refused LayerNormalization
 * (1 node: …)`. Several modules alike are counted: `LayerNorm-like pattern in 3 modules (a, b, c): refused Pow ×3, …`,
 * or without a look `Softmax ×12 in 12 modules (…)`.
 */
function render(group: Group, room: number): string {
  const reasons = [...group.reasons];
  if (group.modules.length === 1) {
    const head = group.look === undefined ? '' : `${group.look} in ${shown(group.modules[0] ?? '', 80)}: refused `;
    const sep = group.look === undefined ? '; ' : ', ';
    let out = head;
    let k = 0;
    for (const [reason, names] of reasons) {
      const part = withNodes(reason, names, 3);
      if (k > 0 && out.length + part.length + 60 > room) break;
      out += `${k > 0 ? sep : ''}${part}`;
      k++;
    }
    if (k < reasons.length) out += `${sep}and ${reasons.length - k} more kinds of unsupported node`;
    return out;
  }
  const modules = group.modules.map((m) => m ?? '(no module)');
  const where = `${modules.length} modules (${listed(modules, 3, (m) => shown(String(m), 60))})`;
  const what = listed(reasons.map(([reason, names]) => `${reason} ×${names.length}`), 6, String);
  const out = group.look !== undefined ? `${group.look} in ${where}: refused ${what}` : `${what} in ${where}`;
  return out.length > room ? shown(out, Math.max(40, room - 30)) : out;
}
