import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { runCli, tempDir } from '../helpers/cli.js'
import { buildImageRoot } from '../helpers/tree.js'

/** ESC sequences that clear the screen and set the window title, BEL, a forged line, a C1 CSI. */
const EVIL = 'evil\u001b]0;owned\u0007\u001b[2J\rok\n  no drift\u009b31m'
const SHOWN = 'evil\\x1B]0;owned\\x07\\x1B[2J\\x0Dok\\x0A  no drift\\u009B31m'

/** A control character a terminal acts on, other than the newlines of text output itself. */
function controlIn(text: string): string | undefined {
  for (const c of text) {
    const code = c.codePointAt(0) ?? 0
    if ((code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f)) return JSON.stringify(c)
  }
  return undefined
}

describe('scan and manifest text output escape what a file name holds', () => {
  const dir = tempDir()
  afterAll(() => dir.cleanup())

  test('a file named with ESC, BEL, CR, LF and a C1 control: text escaped, JSON exact', async () => {
    const root = join(dir.path, 'root')
    const manifest = join(dir.path, 'm.json')
    buildImageRoot(root)
    writeFileSync(join(root, 'usr/bin', EVIL), 'one')
    const latin1 = Buffer.concat([Buffer.from(join(root, 'usr/bin/caf')), Buffer.from([0xe9])])
    const fd = openSync(latin1, 'w')
    writeSync(fd, 'one')
    closeSync(fd)
    writeFileSync(join(root, 'usr/bin/caf\\xE9'), 'a backslash, not a byte')
    expect(
      (await runCli(['manifest', 'capture', '--image', 'x@1', '--root', root, '--out', manifest])).code,
    ).toBe(0)
    writeFileSync(join(root, 'usr/bin', EVIL), 'two')
    writeFileSync(latin1, 'two')
    writeFileSync(join(root, 'usr/bin/caf\\xE9'), 'changed too')

    const text = await runCli(['scan', '--manifest', manifest, '--root', root])
    expect(text.code).toBe(1)
    expect(controlIn(text.stdout)).toBeUndefined()
    expect(text.stdout).toContain(`/usr/bin/${SHOWN}`)
    // The byte E9 and a name that holds the text \xE9 read differently.
    expect(text.stdout).toContain('/usr/bin/caf\\xE9 ')
    expect(text.stdout).toContain('/usr/bin/caf\\\\xE9 ')

    const json = await runCli(['scan', '--manifest', manifest, '--root', root, '--format', 'json'])
    const subjects = (JSON.parse(json.stdout) as { drift: { subject: string }[] }).drift.map((d) => d.subject)
    expect(subjects).toEqual(
      expect.arrayContaining([`/usr/bin/${EVIL}`, '/usr/bin/caf\udce9', '/usr/bin/caf\\xE9']),
    )

    const show = await runCli(['manifest', 'show', manifest])
    expect(show.code).toBe(0)
    expect(controlIn(show.stdout)).toBeUndefined()
  })

  test('an error message that quotes input is escaped too', async () => {
    const result = await runCli(['scan', '--manifest', join(dir.path, `missing\u001b[2J.json`)])
    expect(result.code).toBe(2)
    expect(controlIn(result.stderr)).toBeUndefined()
    expect(result.stderr).toContain('missing\\x1B[2J.json')
  })
})
