import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { REPO } from '../helpers/cli.js'

// No container engine runs in CI: these check what can be checked without one.
const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ')
const instructions = dockerfile
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
const stages = dockerfile.split(/^FROM /m).slice(1)

describe('Dockerfile', () => {
  test('every file it copies from the build context exists in the repository', () => {
    const copies = instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
    expect(copies.length).toBeGreaterThan(0)
    for (const line of copies) {
      const sources = line.split(/\s+/).slice(1, -1)
      for (const source of sources) expect(existsSync(join(REPO, source)), `${line}: ${source}`).toBe(true)
    }
  })

  test('two stages: the package packed and installed from its tarball, production dependencies only', () => {
    expect(stages).toHaveLength(2)
    expect(stages[0]).toMatch(/npm pack .*--pack-destination \/pkg/)
    expect(stages[0]).toMatch(/npm install --global .*--omit=dev .*\/pkg\/driftwatch-\*\.tgz/)
    expect(stages[1]).toMatch(/^COPY --from=build \/opt\/driftwatch \/opt\/driftwatch$/m)
    expect(stages[1]).not.toMatch(/npm (ci|install)/)
  })

  test('runs as a non-root user, the collector by default, with a health check', () => {
    const final = stages[1] ?? ''
    expect(final).toMatch(/^USER driftwatch$/m)
    expect(final).toMatch(/^HEALTHCHECK .*\/healthz/m)
    expect(final).toMatch(/^ENTRYPOINT \["driftwatch"\]$/m)
    expect(final).toMatch(/^CMD \["collector", "--config", "\/etc\/driftwatch\/collector\.yaml"\]$/m)
  })

  test('the README shows both docker run lines: the collector, and the agent with the host read-only at /host', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8')
    expect(readme).toMatch(/docker run .*driftwatch(:\S+)?\s*$/m)
    expect(readme).toMatch(/docker run .*-v \/:\/host:ro.*agent --root \/host/s)
  })
})
