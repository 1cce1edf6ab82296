import { describe, expect, test } from 'vitest'
import { displayJson, displayText } from '../../src/util/display.js'
import { decodeName, displayPath } from '../../src/util/pathname.js'

/** A control character a terminal acts on, newline included. */
function controlIn(text: string): string | undefined {
  for (const c of text) {
    const code = c.codePointAt(0) ?? 0
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return JSON.stringify(c)
  }
  return undefined
}

describe('text from outside, as a terminal shows it', () => {
  test.each([
    { name: 'plain text stays as it is', text: 'web-7 ünïcødé 日本 😀', shown: 'web-7 ünïcødé 日本 😀' },
    { name: 'ESC that would clear the screen', text: 'a\u001b[2Jb', shown: 'a\\x1B[2Jb' },
    {
      name: 'a window title set with OSC and BEL',
      text: '\u001b]0;pwned\u0007',
      shown: '\\x1B]0;pwned\\x07',
    },
    { name: 'a forged line', text: 'web\n  state compliant', shown: 'web\\x0A  state compliant' },
    { name: 'carriage return and tab', text: 'a\rb\tc', shown: 'a\\x0Db\\x09c' },
    { name: 'NUL and DEL', text: '\u0000\u007f', shown: '\\x00\\x7F' },
    { name: 'C1 controls (CSI, NEL) as \\u', text: '\u009b2J\u0085', shown: '\\u009B2J\\u0085' },
    { name: 'a backslash is escaped itself', text: 'C:\\x41', shown: 'C:\\\\x41' },
    { name: 'a non-UTF-8 byte (PEP 383)', text: 'caf\udce9', shown: 'caf\\xE9' },
    { name: 'other lone surrogates', text: 'a\ud800b\udc41', shown: 'a\\uD800b\\uDC41' },
    { name: 'a surrogate pair is a character', text: '\ud83d\ude00', shown: '😀' },
    { name: 'bidirectional overrides', text: 'txt.\u202eexe', shown: 'txt.\\u202Eexe' },
    { name: 'line separator', text: 'a\u2028b', shown: 'a\\u2028b' },
  ])('$name', ({ text, shown }) => {
    expect(displayText(text)).toBe(shown)
    expect(controlIn(displayText(text))).toBeUndefined()
  })

  test('unambiguous: a byte E9, the text \\xE9, ESC and the text \\x1B all read differently', () => {
    const byte = decodeName(Buffer.from([0x63, 0x61, 0x66, 0xe9]))
    const shown = [byte, 'caf\\xE9', 'caf\u001b', 'caf\\x1B', 'caf\u00e9', 'caf\u0085', 'caf\\u0085'].map(
      displayText,
    )
    expect(new Set(shown).size).toBe(shown.length)
    expect(shown[0]).toBe('caf\\xE9')
    expect(shown[1]).toBe('caf\\\\xE9')
  })

  test('file names are shown with the same escaping', () => {
    expect(displayPath('/tmp/a\u001b[31mred')).toBe('/tmp/a\\x1B[31mred')
  })

  test('JSON values in text: JSON escapes, and \\u for what JSON leaves raw', () => {
    const value = { a: 'x\u001b\u007f\u009b\u202e', 'k\n': 1 }
    const shown = displayJson(value)
    expect(shown).toBe('{"a":"x\\u001b\\u007F\\u009B\\u202E","k\\n":1}')
    expect(JSON.parse(shown)).toEqual(value)
  })
})
