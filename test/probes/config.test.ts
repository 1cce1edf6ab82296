import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { configProbes } from '../../src/probes/config.js'

const NAMESPACES: Record<string, string[]> = {
  sysctl: ['sysctl'],
  systemd: ['systemd'],
  accounts: ['user', 'group'],
  sshd: ['sshd'],
  os: ['os'],
}

describe('configuration probes', () => {
  test('the registry lists each namespace once, in order', () => {
    expect(configProbes.map((p) => p.name)).toEqual(['sysctl', 'systemd', 'accounts', 'sshd', 'os'])
  })

  test.each(configProbes.map((probe) => ({ name: probe.name, probe })))(
    '$name: unique, sorted keys in its own namespaces, JSON values',
    async ({ name, probe }) => {
      const rootDir = fileURLToPath(new URL(`../fixtures/roots/${name}`, import.meta.url))
      for (const live of [false, true]) {
        const entries = await probe.collect({ rootDir, live })
        const keys = entries.map((e) => e.key)
        expect(keys.length).toBeGreaterThan(0)
        expect(new Set(keys).size).toBe(keys.length)
        expect(keys).toEqual([...keys].sort())
        for (const entry of entries) {
          const namespace = entry.key.slice(0, entry.key.indexOf(':'))
          expect(NAMESPACES[name]).toContain(namespace)
          expect(JSON.parse(JSON.stringify(entry.value))).toEqual(entry.value)
        }
      }
    },
  )
})
