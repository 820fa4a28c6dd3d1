/** The most characters of one name from a file that a message quotes. */
export const MAX_SHOWN = 80;

/**
 * A string read from a file (a node, tensor or value name, an op type), safe to put in a message for a terminal:
 * control characters (C0, DEL, C1) and the bidirectional overrides are escaped as \xNN / \u{NNNN}, so a name cannot
 * clear the screen, set the window title or reorder the line; a name longer than `max` characters is cut, saying
 * how long it was, so a megabyte name does not make a megabyte message.
 */
export function shown(name: string, max = MAX_SHOWN): string {
  const chars = [...name];
  const cut = chars.length > max;
  const escaped = (cut ? chars.slice(0, max) : chars).map((ch) => {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x20 || (c >= 0x7f && c < 0xa0)) return `\\x${c.toString(16).padStart(2, '0')}`;
    if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c === 0x200e || c === 0x200f || c === 0x061c) return `\\u{${c.toString(16)}}`;
    return ch;
  });
  return escaped.join('') + (cut ? `… (${chars.length} characters)` : '');
}

/** A name from a file in quotes, as messages quote names: `'layer1.0.conv1'`. */
export const quoted = (name: string): string => `'${shown(name)}'`;

/** At most `max` items of a list from a file, joined, then how many there were in all. */
export function listed(items: readonly unknown[], max = 8, show: (item: unknown) => string = (x) => shown(String(x))): string {
  const head = items.slice(0, max).map(show).join(', ');
  return items.length > max ? `${head}, … (${items.length} in all)` : head;
}
