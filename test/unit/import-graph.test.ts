import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, test } from 'vitest'

/*
 * DESIGN.md, "Imports point down": a model that two parts share lives below both of them. This
 * reads every import of src/ with TypeScript's own parser (static, re-exports and dynamic
 * `import()`), and holds the rules that keep the pure core pure and the agent apart from the
 * collector.
 */

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src')

interface Import {
  /** The imported module: `src/…` relative path for a project file, `node:fs` or a package name otherwise. */
  target: string
  /** `import type` / `export type`: erased at build time, so it carries no code (and no I/O). */
  typeOnly: boolean
}

/** Node's modules that reach outside the process: files, processes, the network, threads. */
const NODE_IO = new Set([
  'fs',
  'fs/promises',
  'child_process',
  'cluster',
  'dgram',
  'dns',
  'dns/promises',
  'http',
  'http2',
  'https',
  'inspector',
  'module',
  'net',
  'os',
  'readline',
  'repl',
  'tls',
  'tty',
  'worker_threads',
])

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name)
    if (d.isDirectory()) return sourceFiles(path)
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [path] : []
  })
}

function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
  const found: Import[] = []
  const add = (specifier: string, typeOnly: boolean) => {
    const target = specifier.startsWith('.')
      ? relative(resolve(SRC, '..'), resolve(dirname(file), specifier)).replace(/\.js$/, '.ts')
      : specifier
    found.push({ target, typeOnly })
  }
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause
      // `import { type A, type B } from` is as erased as `import type { A, B } from`.
      const named = clause?.namedBindings
      const allNamedTypes =
        named !== undefined &&
        ts.isNamedImports(named) &&
        named.elements.length > 0 &&
        named.elements.every((e) => e.isTypeOnly) &&
        clause?.name === undefined
      add(node.moduleSpecifier.text, clause?.isTypeOnly === true || allNamedTypes)
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly)
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

const graph = new Map<string, Import[]>()
for (const file of sourceFiles(SRC)) graph.set(relative(resolve(SRC, '..'), file), importsOf(file))

function filesUnder(...dirs: string[]): string[] {
  return [...graph.keys()].filter((f) => dirs.some((d) => f.startsWith(`src/${d}/`)))
}

/** `from -> to` for every import of a file under `from` into a file under one of `to`. */
function edges(from: string[], to: string[]): string[] {
  return filesUnder(...from).flatMap((file) =>
    (graph.get(file) ?? [])
      .filter((i) => to.some((d) => i.target.startsWith(`src/${d}/`)))
      .map((i) => `${file} -> ${i.target}`),
  )
}

/**
 * The node: I/O modules a file reaches through code it runs: its own value imports and
 * theirs, transitively (type-only imports carry no code). Each path is named.
 */
function ioReached(file: string): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  const walk = (current: string, path: string[]) => {
    if (seen.has(current)) return
    seen.add(current)
    for (const i of graph.get(current) ?? []) {
      if (i.typeOnly) continue
      if (i.target.startsWith('node:')) {
        if (NODE_IO.has(i.target.slice('node:'.length))) out.push([...path, current, i.target].join(' -> '))
      } else if (graph.has(i.target)) walk(i.target, [...path, current])
    }
  }
  walk(file, [])
  return out
}

// None: the fleet's host states and records live in src/fleet/, below store/ and protocol/.
const KNOWN_EXCEPTIONS = new Set<string>()

describe('imports point down (DESIGN.md)', () => {
  test('the graph was read: every part of src/ has files and imports', () => {
    for (const dir of ['drift', 'manifest', 'probes', 'protocol', 'store', 'collector', 'cli']) {
      expect(filesUnder(dir).length, dir).toBeGreaterThan(0)
    }
    expect(edges(['cli'], ['manifest']).length).toBeGreaterThan(0)
  })

  test('drift/ and manifest/ import nothing from probes/', () => {
    expect(edges(['drift', 'manifest'], ['probes'])).toEqual([])
  })

  test('store/ and protocol/ import nothing from collector/', () => {
    const found = edges(['store', 'protocol'], ['collector'])
    expect(found.filter((e) => !KNOWN_EXCEPTIONS.has(e.split(' -> ')[1] as string))).toEqual([])
  })

  test('agent/ imports nothing from collector/ or store/', () => {
    expect(edges(['agent'], ['collector', 'store'])).toEqual([])
  })

  test('drift/, protocol/ and the manifest schema reach no node: I/O module, not even through another file', () => {
    const pure = [...filesUnder('drift', 'protocol'), 'src/manifest/schema.ts']
    expect(pure.flatMap(ioReached)).toEqual([])
  })

  test('the rules see a violation: an import of probes/ from drift/ would be caught', () => {
    graph.set('src/drift/violation.ts', [{ target: 'src/probes/types.ts', typeOnly: true }])
    graph.set('src/protocol/violation.ts', [{ target: 'src/config/load.ts', typeOnly: false }])
    try {
      expect(edges(['drift'], ['probes'])).toContain('src/drift/violation.ts -> src/probes/types.ts')
      expect(ioReached('src/protocol/violation.ts').length).toBeGreaterThan(0)
    } finally {
      graph.delete('src/drift/violation.ts')
      graph.delete('src/protocol/violation.ts')
    }
  })
})
