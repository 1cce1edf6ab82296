import { describe, expect, test } from 'vitest'
import { canonicalJson, digestOf } from '../../src/manifest/canonical.js'

describe('canonical JSON', () => {
  test('sorts keys at every depth and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    )
  })
  test('the digest does not depend on key order', () => {
    expect(digestOf({ a: 1, b: [1, 2] })).toBe(digestOf({ b: [1, 2], a: 1 }))
    expect(digestOf({ a: 1, b: [1, 2] })).not.toBe(digestOf({ a: 1, b: [2, 1] }))
    expect(digestOf({})).toMatch(/^sha256:[0-9a-f]{64}$/)
  })
  test('undefined members are left out, non-finite numbers refused', () => {
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}')
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/)
  })
})
