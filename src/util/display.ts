/*
 * Text that came from outside (a host's report, a manifest, a file name, a collector's answer)
 * as a terminal may show it. A terminal acts on control characters: ESC starts sequences that
 * clear the screen, set the window title or move the cursor, BEL rings, CR rewrites the line,
 * LF forges one, and bidirectional overrides reorder what is read. Each such character is
 * written as an escape instead, and the escapes cannot be confused with text, because a
 * backslash is itself escaped:
 *
 *   \\       a backslash
 *   \xNN     a C0 control or DEL (00-1F, 7F); or a byte of a file name that is not UTF-8
 *            (80-FF, carried as PEP 383's lone surrogate U+DC80 + byte, see pathname.ts)
 *   \uNNNN   a C1 control (U+0080-009F), any other lone surrogate, a bidirectional control
 *            (U+200E, U+200F, U+202A-202E, U+2066-2069) or a line or paragraph separator
 *
 * The two \x ranges do not overlap, so `\xE9` is always the byte E9 and `\x1B` always ESC.
 * JSON output is never escaped this way: it is exact.
 */

const NEEDS_ESCAPE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\\\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/** JSON.stringify already escapes C0, the backslash and lone surrogates; these it leaves raw. */
const RAW_IN_JSON = /[\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0')

function escapeOne(c: string): string {
  if (c === '\\') return '\\\\'
  const code = c.charCodeAt(0)
  if (code < 0x20 || code === 0x7f) return `\\x${hex(code, 2)}`
  if (code >= 0xdc80 && code <= 0xdcff) return `\\x${hex(code - 0xdc00, 2)}`
  return `\\u${hex(code, 4)}`
}

/** Outside text for a terminal: control characters and non-UTF-8 bytes escaped, unambiguously. */
export function displayText(text: string): string {
  NEEDS_ESCAPE.lastIndex = 0
  if (!NEEDS_ESCAPE.test(text)) return text
  return text.replace(NEEDS_ESCAPE, escapeOne)
}

/** A value shown as JSON in text output: JSON's own escapes, and `\uNNNN` for what JSON leaves raw. */
export function displayJson(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value)
  return json.replace(RAW_IN_JSON, (c) => `\\u${hex(c.charCodeAt(0), 4)}`)
}
