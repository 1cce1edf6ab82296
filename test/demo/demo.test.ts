import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.js'

describe('driftwatch demo', () => {
  test('the whole loop: two incidents flagged, replaced one at a time through the executor, alerted, cleaned up', async () => {
    const { code, stdout, stderr } = await runCli(['demo'])
    expect(stderr).toBe('')
    expect(code, stdout).toBe(0)

    // Four hosts came up clean, then two were changed and flagged.
    expect(stdout).toContain('4 compliant')
    expect(stdout).toMatch(/web-2 .*snowflake|snowflake.*web-2/)
    expect(stdout).toMatch(/web-3 .*snowflake|snowflake.*web-3/)
    // The host detail names the causes: the package installed by hand, the binary, the SSH option.
    expect(stdout).toContain('deb:netcat-openbsd:amd64')
    expect(stdout).toContain('/usr/sbin/sshd')
    expect(stdout).toMatch(/permitrootlogin/i)

    // No maintenance window restricts when a replacement may start, and the narration says so.
    expect(stdout).toContain('No maintenance windows are configured, so a replacement may start at any time.')

    // One at a time: both went through the signed webhook executor, each once.
    const dispatched = /Dispatched in turn: (.*); both are replaced/.exec(stdout)?.[1]?.split(', ')
    expect(dispatched?.sort()).toEqual(['web-2', 'web-3'])
    expect(stdout).toMatch(/\n {3}\S+: /) // at least one alert line
    expect(stdout).toMatch(/Fleet page: http:\/\/127\.0\.0\.1:\d+\//)

    // The temporary folder is gone.
    const manifest = /captured: (\S+web-base\.json\.gz)/.exec(stdout)?.[1]
    expect(manifest).toBeDefined()
    expect(existsSync(dirname(manifest ?? '/'))).toBe(false)
  }, 120_000)
})
