import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { CONFIG_FILES, DOCS_DIR, generatedDocs } from '../../scripts/docs.js'

describe('docs/ reference pages', () => {
  test.each([...generatedDocs()].map(([name, content]) => ({ name, content })))(
    'docs/$name is what the schemas say (run `npm run docs` after changing a schema)',
    ({ name, content }) => {
      const file = join(DOCS_DIR, name)
      expect(existsSync(file), `docs/${name} is missing: run npm run docs`).toBe(true)
      expect(readFileSync(file, 'utf8'), `docs/${name} is stale: run npm run docs`).toBe(content)
    },
  )

  test('every key of every configuration file has a description', () => {
    const page = generatedDocs().get('configuration.md') ?? ''
    for (const { file } of CONFIG_FILES) expect(page).toContain(`## ${file}`)
    const undescribed = page
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .filter((line) => line.split(' | ').at(-1)?.trim() === '|' || /\| {2}\|$/.test(line))
    expect(undescribed, 'add .describe() to these keys').toEqual([])
  })

  test('the pages the README links to exist', () => {
    const readme = readFileSync(join(DOCS_DIR, '..', 'README.md'), 'utf8')
    for (const [, target] of readme.matchAll(/\]\((docs\/[^)#]+)/g)) {
      expect(existsSync(join(DOCS_DIR, '..', target as string)), target).toBe(true)
    }
  })
})
