/**
 * HTML for the fleet page. Every value from a host (hostname, labels, paths, package names,
 * reasons) reaches the page through `escapeHtml`, the one escaping function; the `html`
 * template applies it to every interpolation, so markup can only come from this code's own
 * literals or from another `html` fragment.
 */

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
}

/** Markup characters, control characters, and lone surrogates (a pair, an emoji, is kept). */
const UNSAFE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /[&<>"'`]|[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/**
 * Text made safe for an element's content and for a quoted attribute value. Control characters
 * and the lone surrogates that stand for a file name's non-UTF-8 bytes (README, "File names
 * that are not UTF-8") are shown as `\xNN`, as the text report shows them, never passed raw.
 */
export function escapeHtml(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value)
  return text.replace(UNSAFE, (ch) => {
    const entity = ENTITIES[ch]
    if (entity) return entity
    const code = ch.charCodeAt(0)
    // U+DC80..U+DCFF is an escaped byte; any other lone surrogate cannot be encoded as UTF-8.
    const byte = code >= 0xdc80 && code <= 0xdcff ? code - 0xdc00 : code
    return code >= 0xd800 && byte > 0xff ? '\uFFFD' : `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}`
  })
}

/** A fragment of markup that is already safe: made by `html` (or `raw` for this code's own constants). */
export class SafeHtml {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
  toString(): string {
    return this.text
  }
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[]

/** Tagged template: literals are markup, every interpolated value is escaped unless it is SafeHtml. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0] ?? ''
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? '')
  })
  return new SafeHtml(out)
}

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return ''
  if (value instanceof SafeHtml) return value.text
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(value)
}

/** Markup from this code's own constants only; never pass it anything a host or request supplied. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup)
}
