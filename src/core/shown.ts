/** The most characters of one name from a file that a message quotes. */
export const MAX_SHOWN = 80;

// Control characters (C0, DEL, C1) and the bidirectional marks and overrides: what can move a terminal's cursor,
// clear its screen, set its window title or reorder a line. Text keeps its line breaks and tabs; a name does not.
const UNSAFE_IN_NAME = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_IN_TEXT = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escaped = (ch: string): string => {
  const c = ch.codePointAt(0) ?? 0;
  return c < 0x100 ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u{${c.toString(16)}}`;
};

/**
 * A string read from a file (a node, tensor or value name, an op type), safe to put in a message: control
 * characters and bidirectional overrides escaped as \xNN / \u{NNNN}, and a name longer than `max` characters cut,
 * saying how long it was, so a megabyte name does not make a megabyte message.
 */
export function shown(name: string, max = MAX_SHOWN): string {
  const chars = [...name];
  const cut = chars.length > max;
  return (cut ? chars.slice(0, max).join('') : name).replace(UNSAFE_IN_NAME, escaped) + (cut ? `… (${chars.length} characters)` : '');
}

/** A name from a file in quotes, as messages quote names: `'layer1.0.conv1'`. */
export const quoted = (name: string): string => `'${shown(name)}'`;

/** At most `max` items of a list from a file, joined, then how many there were in all. */
export function listed(items: readonly unknown[], max = 8, show: (item: unknown) => string = (x) => shown(String(x))): string {
  const head = items.slice(0, max).map(show).join(', ');
  return items.length > max ? `${head}, … (${items.length} in all)` : head;
}

/**
 * Text for a terminal, whatever names from files it quotes: the characters above escaped but line breaks and
 * tabs. Every line a command prints passes through it (commands/base.ts).
 */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE_IN_TEXT, escaped);
}
