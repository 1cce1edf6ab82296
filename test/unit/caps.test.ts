import { describe, expect, test } from 'vitest'
import { decodeCapabilities } from '../../src/probes/files/caps.js'

function vfsCap(
  revision: number,
  effective: boolean,
  permitted: bigint,
  inheritable = 0n,
  rootid?: number,
): Buffer {
  const words = revision === 1 ? 1 : 2
  const buf = Buffer.alloc(4 + words * 8 + (rootid !== undefined ? 4 : 0))
  buf.writeUInt32LE((revision << 24) | (effective ? 1 : 0), 0)
  for (let w = 0; w < words; w++) {
    buf.writeUInt32LE(Number((permitted >> BigInt(32 * w)) & 0xffffffffn), 4 + w * 8)
    buf.writeUInt32LE(Number((inheritable >> BigInt(32 * w)) & 0xffffffffn), 8 + w * 8)
  }
  if (rootid !== undefined) buf.writeUInt32LE(rootid, 20)
  return buf
}

describe('security.capability decoding', () => {
  test.each([
    { raw: vfsCap(2, true, 1n << 13n), text: 'cap_net_raw=ep' },
    { raw: vfsCap(2, true, (1n << 10n) | (1n << 12n)), text: 'cap_net_bind_service,cap_net_admin=ep' },
    { raw: vfsCap(2, false, 1n << 21n), text: 'cap_sys_admin=p' },
    { raw: vfsCap(2, true, 1n << 38n), text: 'cap_perfmon=ep' },
    { raw: vfsCap(2, false, 0n, 1n << 0n), text: 'cap_chown=i' },
    { raw: vfsCap(1, true, 1n << 13n), text: 'cap_net_raw=ep' },
    { raw: vfsCap(3, true, 1n << 13n, 0n, 1000), text: 'cap_net_raw=ep [rootid=1000]' },
    { raw: Buffer.from([1, 2]), text: 'raw:0102' },
  ])('$text', ({ raw, text }) => {
    expect(decodeCapabilities(raw)).toBe(text)
  })
})
