import { describe, expect, test } from 'vitest'
import { z } from 'zod'
import { parseYamlText } from '../../src/config/load.js'

const Schema = z.strictObject({ secret: z.string(), limit: z.number(), quoted: z.string(), text: z.string() })
const env = { SECRET: 'a # not a comment: {x}', LIMIT: '1024', NAME: 'n' }
/** `${NAME}` as a configuration file writes a reference to the environment. */
const ref = (name: string) => `\${${name}}`
const parse = (yaml: string, e: NodeJS.ProcessEnv = env) =>
  parseYamlText(yaml, 'c.yaml', Schema, 'hint', { interpolate: true, env: e })

describe('references to the environment in configuration', () => {
  test('values are replaced; comments and keys are not configuration', () => {
    const yaml = [
      `# ${ref('NAME')} is replaced from the environment; ${ref('UNSET_IN_A_COMMENT')} too`,
      `secret: ${ref('SECRET')} # ${ref('UNSET_AFTER_A_VALUE')}`,
      `limit: ${ref('LIMIT')}`,
      `quoted: "${ref('LIMIT')}"`,
      `text: "x-${ref('NAME')}-y"`,
    ].join('\n')
    expect(parse(yaml)).toEqual({
      secret: 'a # not a comment: {x}',
      limit: 1024,
      quoted: '1024',
      text: 'x-n-y',
    })
  })

  test('a missing variable in a value names it and its line', () => {
    expect(() => parse(`secret: x\nlimit: 1\nquoted: ${ref('NOPE')}\ntext: t\n`)).toThrow(
      /c\.yaml: line 3: \$\{NOPE\} is not set in the environment/,
    )
  })
})
