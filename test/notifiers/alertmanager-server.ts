import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { hasTool } from '../helpers/tools.js'

export const ALERTMANAGER = 'prometheus-alertmanager'

/** Whether Debian's Alertmanager is installed (under DRIFTWATCH_REQUIRE_INTEGRATION=1 its absence fails). */
export const hasAlertmanager = () => hasTool(ALERTMANAGER, 'prometheus-alertmanager')

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * A real Alertmanager on a loopback port of its own, with a temporary storage folder and a
 * configuration that routes every alert to a receiver that sends nothing; clustering off.
 */
export async function startAlertmanager(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'dw-am-'))
  const config = join(dir, 'alertmanager.yml')
  writeFileSync(config, 'route:\n  receiver: quiet\nreceivers:\n  - name: quiet\n')
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const child: ChildProcess = spawn(
      ALERTMANAGER,
      [
        `--config.file=${config}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const url = `http://127.0.0.1:${port}`
    const stop = async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await new Promise((resolve) => child.once('exit', resolve))
      }
      rmSync(dir, { recursive: true, force: true })
    }
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      try {
        const response = await request(`${url}/-/ready`)
        await response.body.text()
        if (response.statusCode === 200) return { url, stop }
      } catch {}
      await sleep(100)
    }
    if (child.exitCode === null) child.kill('SIGKILL')
    // Another process took the port between the probe and the start: try another.
    if (attempt >= 3) {
      await stop()
      throw new Error(`Alertmanager did not start: ${stderr.slice(-2000)}`)
    }
  }
}
