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

  test('every configuration file has its section', () => {
    const page = generatedDocs().get('configuration.md') ?? ''
    for (const { file } of CONFIG_FILES) expect(page).toContain(`## ${file}`)
  })

  test.each(['configuration.md', 'report.md', 'manifest.md', 'api.md'])(
    'every key in docs/%s says what it is',
    (name) => {
      const page = generatedDocs().get(name) ?? ''
      const keyRows = page.split('\n').filter((line) => line.startsWith('| `'))
      expect(keyRows.length).toBeGreaterThan(10)
      // The last cell without the form it belongs to ("With `type: webhook`:") and its limits ("(≥ 0)").
      const undescribed = keyRows.filter((line) => {
        const what = line.split(' | ').at(-1) ?? ''
        return (
          what
            .replace(/^With `[^`]*`:/, '')
            .replace(/\([^)]*\) \|$/, '|')
            .trim() === '|'
        )
      })
      expect(undescribed, 'add .describe() to these keys').toEqual([])
    },
  )

  test('no key is shown as an unknown type: labels, files, records and unions are spelt out', () => {
    const rows = [...generatedDocs().values()].join('\n').split('\n')
    const vague = rows.filter((line) => / \| (any|map\b.*|.*object or object.*) \| /.test(line))
    expect(vague).toEqual([])
    const report = generatedDocs().get('report.md') ?? ''
    expect(report).toContain('| `host.labels` | record of string → string |')
    const manifest = generatedDocs().get('manifest.md') ?? ''
    expect(manifest).toContain('| `files[].sha256` | string |')
    expect(manifest).toContain('| `config[]` | list of `{ key, value }` or `{ key, oneOf }` |')
  })

  test('the pages the README links to exist', () => {
    const readme = readFileSync(join(DOCS_DIR, '..', 'README.md'), 'utf8')
    for (const [, target] of readme.matchAll(/\]\((docs\/[^)#]+)/g)) {
      expect(existsSync(join(DOCS_DIR, '..', target as string)), target).toBe(true)
    }
  })
})
