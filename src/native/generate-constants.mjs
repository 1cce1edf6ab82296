#!/usr/bin/env node
// Writes constants.h (for fsprobe.c) and constants.ts from constants.json, the one source of
// the numbers C and TypeScript share. `--check` writes nothing and exits 1 when either file
// differs from what it would write (test/native/constants.test.ts runs it).
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const table = JSON.parse(readFileSync(join(here, 'constants.json'), 'utf8'))
const banner = 'Generated from src/native/constants.json by generate-constants.mjs: do not edit.'
const snake = (name) => name.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()
const fields = table.stat.fields

const header = [
  `/* ${banner} */`,
  '#ifndef DRIFTWATCH_CONSTANTS_H',
  '#define DRIFTWATCH_CONSTANTS_H',
  '',
  `/* ${table.stat.$comment} */`,
  `#define STAT_FIELDS ${fields.length}`,
  ...fields.map((name, k) => `#define ST_${snake(name)} ${k}`),
  '',
  ...Object.entries(table.constants).flatMap(([name, { value, doc }]) => [
    `/* ${doc} */`,
    `#define ${name} (${value})`,
  ]),
  '',
  '#endif',
  '',
].join('\n')

const module = [
  `// ${banner}`,
  '',
  `/** ${table.stat.$comment} */`,
  `export const STAT_FIELDS = ${fields.length}`,
  '/** Where each field of a stat result is. */',
  'export const ST = {',
  ...fields.map((name, k) => `  ${name}: ${k},`),
  '} as const',
  ...Object.entries(table.constants).flatMap(([name, { value, doc }]) => [
    `/** ${doc} */`,
    `export const ${name} = ${value}`,
  ]),
  '',
].join('\n')

const outputs = { 'constants.h': header, 'constants.ts': module }
let stale = false
for (const [name, text] of Object.entries(outputs)) {
  const file = join(here, name)
  let current = ''
  try {
    current = readFileSync(file, 'utf8')
  } catch {}
  if (current === text) continue
  if (process.argv.includes('--check')) {
    process.stderr.write(
      `${file} is not what constants.json says: run node src/native/generate-constants.mjs\n`,
    )
    stale = true
  } else writeFileSync(file, text)
}
process.exitCode = stale ? 1 : 0
