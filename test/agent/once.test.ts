import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { MANIFEST_INTEGRITY_SUBJECT } from '../../src/agent/daemon.js'
import type { RunningCollector } from '../../src/collector/server.js'
import { runCli, tempDir } from '../helpers/cli.js'
import {
  ADMIN_TOKEN,
  AgentProcess,
  ENROLL_SECRET,
  makeImage,
  runCollector,
  spoolFiles,
  until,
  writeAgentConfig,
} from './harness.js'

const HOST_ID = '00000000000000000000000000000001'

describe('driftwatch agent --once and the daemon', () => {
  const dir = tempDir('driftwatch-agent-once-')
  let image: Awaited<ReturnType<typeof makeImage>>
  let collector: RunningCollector
  let states = 0
  const freshState = () => join(dir.path, `state-${++states}`)

  beforeAll(async () => {
    image = await makeImage(dir.path)
    collector = await runCollector(dir.path)
  })
  afterAll(async () => {
    await collector.stop()
    dir.cleanup()
  })

  const once = async (config: string, args: string[] = []) => {
    const agent = new AgentProcess(['--config', config, '--once', ...args])
    const code = await agent.exited
    return { agent, code }
  }

  test('first run: enrols, keeps its token 0600, delivers a clean report with the host facts (exit 0); no secret in any log line', async () => {
    const stateDir = freshState()
    const config = writeAgentConfig(dir.path, { url: collector.url, image, stateDir })
    const { agent, code } = await once(config)
    expect(code, agent.stderr).toBe(0)
    const token = JSON.parse(readFileSync(join(stateDir, 'token'), 'utf8')) as {
      token: string
      hostId: string
    }
    expect(token.hostId).toBe(HOST_ID)
    expect(statSync(join(stateDir, 'token')).mode & 0o777).toBe(0o600)
    expect(agent.lines().map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        'agent ready',
        'scan finished',
        'report spooled',
        'enrolled',
        'report delivered',
      ]),
    )
    expect(agent.stdout).not.toContain(token.token)
    expect(agent.stdout).not.toContain(ENROLL_SECRET)
    const host = await collector.store.getHost(HOST_ID)
    expect(host?.state).toBe('compliant')
    expect(host?.labels).toEqual({ group: 'web' })
    const latest = await collector.store.latestReport(HOST_ID)
    expect(latest?.host.facts?.os).toEqual({
      id: 'debian',
      version: '12',
      name: 'Debian GNU/Linux 12 (bookworm)',
    })
    expect(latest?.host.facts?.arch).toBe(process.arch)
    expect(latest?.host.facts?.memoryBytes).toBeGreaterThan(0)
    expect(spoolFiles(stateDir)).toEqual([])
    const shown = await runCli(['fleet', 'host', HOST_ID], {
      env: { DRIFTWATCH_COLLECTOR: collector.url, DRIFTWATCH_ADMIN_TOKEN: ADMIN_TOKEN },
    })
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toMatch(/^ {2}system +Debian GNU\/Linux 12 \(bookworm\), kernel \S+ \w+, /m)
  })

  test('a changed binary: delivered with drift (exit 1); the token is reused, not enrolled again', async () => {
    const stateDir = freshState()
    const config = writeAgentConfig(dir.path, { url: collector.url, image, stateDir })
    expect((await once(config)).code).toBe(0)
    const binary = join(image.root, 'usr/bin/cat')
    const before = readFileSync(binary)
    appendFileSync(binary, 'echo pwned\n')
    try {
      const { agent, code } = await once(config, ['--mode', 'quick'])
      expect(code, agent.stderr).toBe(1)
      expect(agent.lines().some((l) => l.msg === 'enrolled')).toBe(false)
      const latest = await collector.store.latestReport(HOST_ID)
      expect(latest?.drift.map((d) => d.subject)).toContain('/usr/bin/cat')
    } finally {
      writeFileSync(binary, before)
    }
  })

  test('the collector no longer knows the token: the agent enrols again by itself and delivers', async () => {
    const stateDir = freshState()
    const config = writeAgentConfig(dir.path, { url: collector.url, image, stateDir })
    expect((await once(config)).code).toBe(0)
    const file = join(stateDir, 'token')
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { token: string }
    writeFileSync(
      file,
      JSON.stringify({ ...stored, token: 'dwh_revoked-or-from-a-collector-that-lost-its-store' }),
    )
    const { agent, code } = await once(config)
    expect(code, agent.stderr).toBe(0)
    const messages = agent.lines().map((l) => l.msg)
    expect(messages).toContain('the collector does not know this host token; enrolling again')
    expect(messages.indexOf('enrolled')).toBeLessThan(messages.indexOf('report delivered'))
  })

  test('a tampered manifest is never used: the host reports a critical integrity finding and becomes a snowflake', async () => {
    const stateDir = freshState()
    const tampered = join(dir.path, 'tampered.json')
    const text = readFileSync(image.manifest, 'utf8').replace('"mode":"0755"', '"mode":"0777"')
    writeFileSync(tampered, text)
    writeFileSync(`${tampered}.sig`, readFileSync(`${image.manifest}.sig`))
    const config = writeAgentConfig(dir.path, {
      url: collector.url,
      image: { ...image, manifest: tampered },
      stateDir,
    })
    const { agent, code } = await once(config)
    expect(code, agent.stderr).toBe(1)
    const why = agent.lines().find((l) => l.msg.startsWith('the manifest failed verification'))
    expect(why?.reason).toMatch(/digest/)
    const latest = await collector.store.latestReport(HOST_ID)
    expect(latest?.drift).toEqual([
      expect.objectContaining({ subject: MANIFEST_INTEGRITY_SUBJECT, severity: 'critical' }),
    ])
    expect(latest?.image.id).toBe('web-base')
    expect((await collector.store.getHost(HOST_ID))?.state).toBe('snowflake')
  })

  test('a manifest signed by another key is refused the same way', async () => {
    const stateDir = freshState()
    const other = join(dir.path, 'other')
    expect((await runCli(['keygen', '--out', other])).code).toBe(0)
    const config = writeAgentConfig(dir.path, {
      url: collector.url,
      image: { ...image, publicKey: `${other}.pub` },
      stateDir,
    })
    const { agent, code } = await once(config)
    expect(code, agent.stderr).toBe(1)
    expect(agent.lines().find((l) => l.msg.startsWith('the manifest failed verification'))?.reason).toMatch(
      /signature|key/,
    )
  })

  test.each([
    {
      name: 'an unknown key',
      extra: ['shedule: {}'],
      error: /agent-\w+\.yaml: \(top level\): unknown key "shedule"/,
    },
    {
      name: 'a bad cron expression',
      extra: [],
      replace: ['quick: "* * * * * *"', 'quick: "every minute"'],
      error: /schedule\.quick: expected a cron expression/,
    },
    {
      name: 'a variable that is not set',
      extra: [`hostId: ${'$'}{DRIFTWATCH_TEST_UNSET_VARIABLE}`],
      error: /\$\{DRIFTWATCH_TEST_UNSET_VARIABLE\} is not set in the environment/,
    },
  ])(
    'bad configuration ($name): exit 2 and one line naming the file and key',
    async ({ extra, replace, error }) => {
      const config = writeAgentConfig(dir.path, { url: collector.url, image, stateDir: freshState(), extra })
      if (replace)
        writeFileSync(config, readFileSync(config, 'utf8').replace(replace[0] ?? '', replace[1] ?? ''))
      const { agent, code } = await once(config)
      expect(code).toBe(2)
      expect(agent.stderr.split('\n')[0]).toMatch(error)
    },
  )

  test('a wrong enrolment secret is bad configuration (exit 2); the report stays spooled', async () => {
    const stateDir = freshState()
    const config = writeAgentConfig(dir.path, { url: collector.url, image, stateDir })
    writeFileSync(config, readFileSync(config, 'utf8').replace(ENROLL_SECRET, 'not-the-secret-0123456789'))
    const { agent, code } = await once(config)
    expect(code).toBe(2)
    expect(agent.stderr).toMatch(/collector\.enrollSecret: the collector at .* refused it/)
    expect(spoolFiles(stateDir), agent.stdout).toHaveLength(1)
  })

  test('a full spool drops its oldest reports, and the next report delivered says how many', async () => {
    const stateDir = freshState()
    const down = writeAgentConfig(dir.path, {
      url: 'http://127.0.0.1:1',
      image,
      stateDir,
      extra: ['spool: { maxReports: 2 }'],
    })
    const spooled: string[] = []
    for (let i = 0; i < 4; i++) {
      const run = await once(down)
      expect(run.code).toBe(4)
      spooled.push(...run.agent.spooled())
    }
    expect(spoolFiles(stateDir)).toHaveLength(2)
    const up = writeAgentConfig(dir.path, {
      url: collector.url,
      image,
      stateDir,
      extra: ['spool: { maxReports: 2 }'],
    })
    const { agent, code } = await once(up)
    expect(code, agent.stderr).toBe(0)
    const [newest = ''] = agent.spooled()
    spooled.push(newest)
    const latest = await collector.store.latestReport(HOST_ID)
    expect(latest?.reportId).toBe(newest)
    // Five reports, room for two: three dropped, oldest first. A dropped report's own count
    // passes on: the fourth told of one drop, the fifth of the third report and the one it carried.
    expect(latest?.agent).toEqual({ droppedReports: 2 })
    const stored = new Set((await collector.store.reportHistory(HOST_ID, 1000)).map((r) => r.reportId))
    expect(spooled.map((id) => stored.has(id))).toEqual([false, false, false, true, true])
    expect(agent.lines().some((l) => l.msg === 'spool full: the oldest undelivered report was dropped')).toBe(
      true,
    )
  })

  test('SIGHUP reloads agent.yaml; SIGTERM during a scan stops it cleanly and exits 0', async () => {
    const stateDir = freshState()
    const config = writeAgentConfig(dir.path, { url: collector.url, image, stateDir })
    const agent = new AgentProcess(['--config', config])
    try {
      await until('a report delivered', () => agent.lines().some((l) => l.msg === 'report delivered'), 60_000)
      writeFileSync(
        config,
        readFileSync(config, 'utf8').replace('labels: { group: web }', 'labels: { group: db }'),
      )
      agent.child.kill('SIGHUP')
      await until('the configuration reloaded', () =>
        agent.lines().some((l) => l.msg === 'configuration reloaded'),
      )
      const reloadedAt = agent.lines().length
      await until(
        'a report after the reload',
        () =>
          agent
            .lines()
            .slice(reloadedAt)
            .some((l) => l.msg === 'report delivered'),
        60_000,
      )
      expect((await collector.store.latestReport(HOST_ID))?.host.labels).toEqual({ group: 'db' })
      // A scan is started at every whole second. On a loaded machine it takes longer and the next
      // is skipped; on an idle one it ends within the second. Either way, a quarter second past a
      // whole second with nothing logged since the last report went out, a scan is running.
      await until(
        'a scan running',
        () => {
          const last = agent.lines().at(-1)?.msg
          if (last === 'scan skipped') return true
          if (last !== 'report delivered') return false
          const ms = Date.now() % 1000
          return (
            ms >= 250 &&
            ms < 500 &&
            agent.lines().at(-1)?.msg === 'report delivered' &&
            lastAt(agent) < Date.now() - ms
          )
        },
        30_000,
      )
    } finally {
      agent.child.kill('SIGTERM')
    }
    const stoppedAt = Date.now()
    expect(await agent.exited, agent.stderr).toBe(0)
    expect(Date.now() - stoppedAt).toBeLessThan(8000)
    expect(agent.lines().at(-1)?.msg).toBe('agent stopped')
  })
})

/** When the agent logged its last line, in ms since the epoch. */
function lastAt(agent: { lines(): { [key: string]: unknown }[] }): number {
  const time = agent.lines().at(-1)?.time
  return typeof time === 'number' ? time : 0
}
