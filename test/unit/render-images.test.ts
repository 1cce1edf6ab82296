import { describe, expect, test } from 'vitest'
import { plainStyle } from '../../src/cli/output.js'
import { renderImageRegistered, renderImages } from '../../src/cli/render-images.js'
import type { ImageView } from '../../src/protocol/api.js'

const image = (overrides: Partial<ImageView>): ImageView => ({
  id: 'web-base',
  version: '2026.11.27-1',
  manifestDigest: `sha256:${'ab12'.repeat(16)}`,
  publicKeys: [],
  signedBy: null,
  registeredAt: '2026-12-01T12:00:00.000Z',
  ...overrides,
})

// An image id comes from the collector's answer: a terminal must never act on what it holds.
const HOSTILE = 'evil\u001b]0;pwned\u0007\u009b2J\u202e'

describe('fleet images for people', () => {
  test('a registered image: its name, digest and signer', () => {
    const out = renderImageRegistered(image({ signedBy: 'k-1234' }), true, plainStyle)
    expect(out).toContain('registered web-base@2026.11.27-1')
    expect(out).toContain('signed by key k-1234')
  })

  test('control characters in what the collector sent are escaped as displayText escapes them', () => {
    const outputs = [
      renderImageRegistered(image({ id: HOSTILE, signedBy: HOSTILE }), false, plainStyle),
      renderImages([image({ version: HOSTILE })], plainStyle),
    ]
    for (const out of outputs) {
      for (const raw of ['\u001b', '\u0007', '\u009b', '\u202e']) expect(out).not.toContain(raw)
      expect(out).toContain('evil\\x1B]0;pwned\\x07\\u009B2J\\u202E')
    }
  })

  test('the table lines up its columns', () => {
    const out = renderImages([image({}), image({ id: 'db', version: '1', signedBy: 'k-9' })], plainStyle)
    const [header, ...rows] = out.trimEnd().split('\n')
    const column = (header ?? '').indexOf('SIGNED BY')
    for (const row of rows) expect(row[column - 1]).toBe(' ')
    expect(rows[1]).toMatch(/^db@1 +sha256:ab12ab12ab12 +k-9 +2026-12-01/)
  })
})
