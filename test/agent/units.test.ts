import { describe, expect, test } from 'vitest'
import { splayOffset } from '../../src/agent/daemon.js'
import { backoffDelay, parseRetryAfter } from '../../src/agent/delivery.js'
import { cloudFromDmi, parseOsRelease } from '../../src/agent/facts.js'
import { describeFacts } from '../../src/cli/render-fleet.js'

describe('cloud provider and instance id from DMI', () => {
  test.each([
    {
      name: 'EC2 Nitro: the instance id is the board asset tag',
      dmi: { vendor: 'Amazon EC2', product: 'm5.large', boardAssetTag: 'i-0123456789abcdef0' },
      cloud: { provider: 'aws', instanceId: 'i-0123456789abcdef0' },
    },
    {
      name: 'EC2 on Xen: only the uuid says so',
      dmi: { vendor: 'Xen', product: 'HVM domU', uuid: 'EC2E1916-9099-7CAF-FD21-012345678901' },
      cloud: { provider: 'aws' },
    },
    {
      name: 'Google Compute Engine',
      dmi: { vendor: 'Google', product: 'Google Compute Engine' },
      cloud: { provider: 'gcp' },
    },
    {
      name: 'Azure: its fixed chassis asset tag, the VM id in the uuid',
      dmi: {
        vendor: 'Microsoft Corporation',
        product: 'Virtual Machine',
        uuid: '1D5A3A9A-3C6F-4E40-9A4B-0123456789AB',
        chassisAssetTag: '7783-7084-3265-9085-8269-3286-77',
      },
      cloud: { provider: 'azure', instanceId: '1d5a3a9a-3c6f-4e40-9a4b-0123456789ab' },
    },
    {
      name: 'OpenStack: the uuid is the instance id',
      dmi: {
        vendor: 'OpenStack Foundation',
        product: 'OpenStack Nova',
        uuid: 'a1b2c3d4-0000-4000-8000-000000000001',
      },
      cloud: { provider: 'openstack', instanceId: 'a1b2c3d4-0000-4000-8000-000000000001' },
    },
    { name: 'bare metal', dmi: { vendor: 'Dell Inc.', product: 'PowerEdge R650' }, cloud: undefined },
    { name: 'a container without DMI', dmi: {}, cloud: undefined },
  ])('$name', ({ dmi, cloud }) => {
    expect(cloudFromDmi(dmi)).toEqual(cloud)
  })
})

test('os-release: quoted and bare values, comments ignored', () => {
  expect(
    parseOsRelease('# c\nID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'),
  ).toEqual({
    ID: 'debian',
    VERSION_ID: '12',
    PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)',
  })
})

test('facts in one line for fleet host, control characters from the wire shown harmlessly', () => {
  expect(
    describeFacts({
      os: { name: 'Debian GNU/Linux 12 (bookworm)' },
      kernel: '6.1.0-18-amd64',
      arch: 'x64',
      cpu: { cores: 4, model: 'AMD EPYC' },
      memoryBytes: 16 * 1024 ** 3,
      cloud: { provider: 'aws', instanceId: 'i-0abc\u001b[31m' },
    }),
  ).toBe(
    'Debian GNU/Linux 12 (bookworm), kernel 6.1.0-18-amd64 x64, 4 cores AMD EPYC, 16.0 GiB, aws i-0abc?[31m',
  )
})

describe('backoff', () => {
  test('full jitter: between zero and the capped exponential ceiling', () => {
    const options = { minBackoff: 1000, maxBackoff: 8000 }
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, options, () => 0.999999))).toEqual([
      999, 1999, 3999, 7999, 7999,
    ])
    expect(backoffDelay(3, options, () => 0)).toBe(0)
  })

  test.each([
    { header: '120', ms: 120_000 },
    { header: 'Thu, 03 Dec 2026 18:00:30 GMT', ms: 30_000 },
    { header: 'soon', ms: undefined },
    { header: undefined, ms: undefined },
  ])('Retry-After $header', ({ header, ms }) => {
    expect(parseRetryAfter(header, Date.parse('2026-12-03T18:00:00Z'))).toBe(ms)
  })
})

test('splay: fixed per host, spread over the window', () => {
  const window = 300_000
  expect(splayOffset('host-a', window)).toBe(splayOffset('host-a', window))
  const offsets = Array.from({ length: 200 }, (_, i) => splayOffset(`host-${i}`, window))
  expect(Math.min(...offsets)).toBeGreaterThanOrEqual(0)
  expect(Math.max(...offsets)).toBeLessThan(window)
  // 200 hosts over 5 minutes: every minute of the window has some.
  const minutes = new Set(offsets.map((o) => Math.floor(o / 60_000)))
  expect(minutes.size).toBe(5)
  expect(splayOffset('host-a', 0)).toBe(0)
})
