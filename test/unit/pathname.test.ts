import { describe, expect, test } from 'vitest'
import { decodeName, displayPath, hasEscapedBytes, toFsPath } from '../../src/util/pathname.js'

describe('file names that are not UTF-8', () => {
  test.each([
    { name: 'plain ascii', bytes: Buffer.from('hello.txt') },
    { name: 'valid utf-8', bytes: Buffer.from('café-日本-😀') },
    { name: 'latin-1 byte', bytes: Buffer.from([0x63, 0x61, 0x66, 0xe9]) },
    { name: 'lone continuation', bytes: Buffer.from([0x80, 0x41]) },
    { name: 'truncated sequence', bytes: Buffer.from([0x41, 0xe2, 0x82]) },
    { name: 'overlong slash', bytes: Buffer.from([0xc0, 0xaf]) },
    { name: 'encoded surrogate', bytes: Buffer.from([0xed, 0xa0, 0x80]) },
    { name: 'mixed', bytes: Buffer.concat([Buffer.from('😀'), Buffer.from([0xff]), Buffer.from('é')]) },
  ])('$name round-trips through decodeName, JSON and toFsPath', ({ bytes }) => {
    const name = decodeName(bytes)
    const viaJson = JSON.parse(JSON.stringify(name)) as string
    const back = toFsPath(`/${viaJson}`)
    expect(Buffer.from(back).equals(Buffer.concat([Buffer.from('/'), bytes]))).toBe(true)
  })

  test('valid names stay plain strings', () => {
    expect(hasEscapedBytes('/usr/bin/😀')).toBe(false)
    expect(toFsPath('/usr/bin/😀')).toBe('/usr/bin/😀')
  })

  test('JSON carries escaped bytes as \\udcXX, and people see \\xNN', () => {
    const name = decodeName(Buffer.from([0x63, 0x61, 0x66, 0xe9]))
    expect(JSON.stringify(name)).toBe('"caf\\udce9"')
    expect(displayPath(`/tmp/${name}`)).toBe('/tmp/caf\\xE9')
  })
})
