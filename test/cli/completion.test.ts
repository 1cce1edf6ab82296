import { spawnSync } from 'node:child_process'
import { describe, expect, test } from 'vitest'
import { COMMAND_HELP } from '../../src/cli/help.js'
import { CLI, runCli } from '../helpers/cli.js'
import { hasTool } from '../helpers/tools.js'

/**
 * What bash offers after `words` (the last one being completed), with the script loaded the
 * way a user loads it: `source <(driftwatch completion bash)`.
 */
function bashCompletes(words: string[]): string[] {
  const script = `
source <("${process.execPath}" "${CLI}" completion bash) || exit 9
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})
COMP_CWORD=${words.length - 1}
_driftwatch
printf '%s\\n' "\${COMPREPLY[@]}"
`
  const result = spawnSync('bash', ['-c', script], { encoding: 'utf8', cwd: '/' })
  expect(result.stderr).toBe('')
  expect(result.status).toBe(0)
  return result.stdout.split('\n').filter(Boolean).sort()
}

describe('driftwatch completion', () => {
  test('the bash script, sourced in bash, registers a completion for driftwatch', () => {
    const result = spawnSync(
      'bash',
      ['-c', `source <("${process.execPath}" "${CLI}" completion bash) && complete -p driftwatch`],
      { encoding: 'utf8' },
    )
    expect(result.status).toBe(0)
    expect(result.stdout.trim()).toBe('complete -F _driftwatch driftwatch')
  })

  test.each([
    { words: ['driftwatch', 'man'], offered: ['manifest'] },
    {
      words: ['driftwatch', ''],
      offered: [
        'agent',
        'collector',
        'completion',
        'demo',
        'fleet',
        'keygen',
        'manifest',
        'packages',
        'scan',
      ],
    },
    { words: ['driftwatch', 'manifest', 'c'], offered: ['capture'] },
    { words: ['driftwatch', 'manifest', '--help', 've'], offered: ['verify'] },
    { words: ['driftwatch', 'scan', '--mo'], offered: ['--mode'] },
    { words: ['driftwatch', 'scan', '--mode', ''], offered: ['full', 'quick'] },
    { words: ['driftwatch', 'scan', '--manifest', 'm.json', '--format', 'j'], offered: ['json'] },
    { words: ['driftwatch', 'fleet', 'hosts', '--state', 'snow'], offered: ['snowflake'] },
    { words: ['driftwatch', 'fleet', 'hosts', '--ima'], offered: ['--image'] },
    { words: ['driftwatch', 'completion', ''], offered: ['bash', 'zsh'] },
    // An option's value is not taken for a command: `--root manifest` stays in scan.
    { words: ['driftwatch', 'scan', '--root', 'manifest', '--verify'], offered: ['--verify-packages'] },
    // After an option that takes a path, file names: here, from / (the test runs bash there).
    { words: ['driftwatch', 'scan', '--manifest', '/et'], offered: ['/etc'] },
  ])('$words', ({ words, offered }) => {
    expect(bashCompletes(words)).toEqual(offered)
  })

  test.skipIf(!hasTool('zsh', 'zsh'))(
    'the zsh script, sourced in zsh, registers a completion for driftwatch',
    () => {
      const result = spawnSync(
        'zsh',
        [
          '-c',
          `autoload -U compinit && compinit -u -D; source <("${process.execPath}" "${CLI}" completion zsh) && print -r -- $_comps[driftwatch]`,
        ],
        { encoding: 'utf8', env: { ...process.env, HOME: '/tmp' } },
      )
      expect(result.stderr).toBe('')
      expect(result.status).toBe(0)
      expect(result.stdout).toMatch(/_bash_complete -F _driftwatch|_driftwatch/)
    },
  )

  test('an unknown shell is bad usage, exit 2', async () => {
    const result = await runCli(['completion', 'fish'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("'fish' is invalid")
  })
})

describe('--help of every command', () => {
  test('every command that runs something has examples and its exit codes in COMMAND_HELP', async () => {
    // The command tree as the CLI itself lists it, group by group.
    const top = await runCli(['--help'])
    const names = [...top.stdout.matchAll(/^ {2}([a-z]+)(?: |\[|$)/gm)].map((m) => m[1] as string)
    expect(names).toContain('scan')
    // Groups nest (fleet image register): a path whose --help lists commands is walked further.
    const paths: string[] = []
    const walk = async (path: string[]): Promise<void> => {
      const group = await runCli([...path, '--help'])
      const subs = [...group.stdout.matchAll(/^ {2}([a-z]+)(?: |\[|$)/gm)]
        .map((m) => m[1] as string)
        .filter((sub) => sub !== 'help')
      if (subs.length && group.stdout.includes('Commands:')) {
        for (const sub of subs) await walk([...path, sub])
      } else paths.push(path.join(' '))
    }
    for (const name of names.filter((n) => n !== 'help')) await walk([name])
    expect(paths).toContain('fleet image register')
    for (const path of paths) {
      expect(COMMAND_HELP[path], `${path}: add its examples and exit codes to src/cli/help.ts`).toBeDefined()
      const help = await runCli([...path.split(' '), '--help'])
      expect(help.code, path).toBe(0)
      expect(help.stdout, path).toMatch(/\nExamples:\n {2}driftwatch /)
      expect(help.stdout, path).toMatch(/\nExit codes:\n {2}0 {2}\S/)
    }
  })
})
