import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { ANY_ARCH, ANY_VERSION, NOT_INSTALLED } from '../../src/drift/packages.js'
import { DriftwatchError } from '../../src/errors.js'
import { fromCycloneDx } from '../../src/import/cyclonedx.js'
import { type DeclaredContent, declaredManifest, requireSomething } from '../../src/import/declared.js'
import { fromGoss, IS_ENABLED } from '../../src/import/goss.js'
import { isConfigChoice, type PackageManager } from '../../src/manifest/schema.js'
import { scanHost } from '../../src/scan/run.js'
import { tempDir } from '../helpers/cli.js'

/*
 * Real Goss files and SBOMs from public repositories (../shared/real-inputs/, with SOURCES.md
 * naming each one's repository and commit; never copied here). Each imports, or is refused
 * with the reason below; a root built to satisfy what it declares scans clean.
 */
const CORPUS =
  process.env.DRIFTWATCH_REAL_INPUTS ??
  resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/real-inputs')
const present = existsSync(CORPUS)

/** SOURCES.md: `--manager rpm` for g06c, g09b, g11*; `--manager apk` for g04*; deb otherwise. */
function managerOf(file: string): PackageManager {
  if (/^(g06c|g09b|g11)/.test(file)) return 'rpm'
  if (file.startsWith('g04')) return 'apk'
  return 'deb'
}

/** Why a file is refused, as a user would accept it: what the message must say. */
const REFUSED: Record<string, RegExp> = {
  // Go templates are rendered by `goss render` before Goss reads the file; so must they be here.
  'g02-telephoneorg-debian.goss.yaml': /a template, .* is not a value/,
  'g03-renderedtext-agent-aws-stack.goss.yaml': /a template, .* is not a value/,
  'g04-docker-suite-alpine-base.goss.yaml': /a template, .* is not a value/,
  'g04b-docker-suite-alpine-base-2492dc2.goss.yaml': /a template, .* is not a value/,
  'g10-k8s-image-builder-service.goss.yaml': /a template, .* is not a value/,
  'g10b-k8s-image-builder-package.goss.yaml': /a template, .* is not a value/,
  'g10c-k8s-image-builder-kernel-params.goss.yaml': /a template, .* is not a value/,
  // Not YAML: a quoted key over several lines, `\$` escapes go-yaml refuses too.
  'g11b-suse-baseline-sysctl.goss.yaml': /line 24 column 3: Implicit keys need to be on a single line/,
}

function importOf(file: string): DeclaredContent {
  const text = readFileSync(join(CORPUS, file), 'utf8')
  const content = file.endsWith('.json')
    ? fromCycloneDx(text, file)
    : fromGoss(text, file, { manager: managerOf(file) })
  requireSomething(content, file)
  return content
}

const files = present ? readdirSync(CORPUS).filter((f) => /^[gc]\d.*\.(ya?ml|json)$/.test(f)) : []
const temps: { cleanup: () => void }[] = []
afterAll(() => {
  for (const t of temps) t.cleanup()
})

describe.skipIf(!present)(`the real-world corpus (${CORPUS})`, () => {
  test('holds the Goss files and SBOMs SOURCES.md lists', () => {
    expect(files.length).toBeGreaterThanOrEqual(30)
  })

  test.each(files)('%s imports, or is refused with a reason', (file) => {
    const refused = REFUSED[file]
    if (refused) {
      let error: unknown
      try {
        importOf(file)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(DriftwatchError)
      expect((error as DriftwatchError).code).toBe('INPUT_INVALID')
      expect((error as DriftwatchError).message).toMatch(refused)
      return
    }
    const content = importOf(file)
    expect(
      content.files.length + content.absent.length + content.packages.length + content.config.length,
    ).toBeGreaterThan(0)
  })

  test('an Alpine SBOM of older syft (pkg:alpine purls) yields apk packages', () => {
    const content = importOf('c05-syft058-alpine.cdx.json')
    expect(content.packages.length).toBe(14)
    expect(new Set(content.packages.map((p) => p.manager))).toEqual(new Set(['apk']))
  })

  test('merge keys: the kubeadm entry takes its versions from the anchor, a matcher left unchecked', () => {
    const content = importOf('g10br-k8s-image-builder-package-ubuntu.rendered-by-hand.goss.yaml')
    expect(content.packages.find((p) => p.name === 'kubeadm')).toMatchObject({ version: ANY_VERSION })
    expect(content.unchecked).toMatchObject({ 'package.versions': 1 })
  })

  // An rpm database is not written by hand here: rpm's own tools build the rpm fixtures.
  const satisfiable = files.filter((f) => !REFUSED[f] && managerOf(f) !== 'rpm' && !/centos/.test(f))
  test.each(satisfiable)('%s: a root built to satisfy it scans clean', async (file) => {
    const content = importOf(file)
    const dir = tempDir('driftwatch-corpus-')
    temps.push(dir)
    buildSatisfyingRoot(dir.path, content)
    const manifest = declaredManifest(content, {
      image: { id: 'corpus', version: '1' },
      policy: loadPolicy(),
      source: { from: file.endsWith('.json') ? 'cyclonedx' : 'goss', file },
      now: new Date(0),
    })
    const { report } = await scanHost({
      rootDir: dir.path,
      manifest,
      manifestDigest: 'sha256:0',
      mode: 'full',
    })
    // A generated file cannot have the content a stated sha256 names: that, and only that, differs.
    const hashed = new Set(content.files.filter((f) => f.sha256 !== undefined).map((f) => f.path))
    expect(
      report.drift.filter(
        (d) => !(hashed.has(d.subject) && d.attributes?.every((a) => a === 'sha256' || a === 'size')),
      ),
    ).toEqual([])
    expect(report.scan.probes.filter((p) => !p.ok)).toEqual([])
  })
})

/**
 * A root that holds exactly what the content declares: its files, its packages in the
 * manager's own database, its users, groups, kernel parameters and enabled units.
 */
function buildSatisfyingRoot(root: string, content: DeclaredContent): void {
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
  }
  const passwd = ['root:x:0:0:root:/root:/bin/sh']
  const group = ['root:x:0:']
  let nextId = 5000
  const users = new Map<string, number>([['root', 0]])
  const groups = new Map<string, number>([['root', 0]])
  const addUser = (
    name: string,
    value: { uid?: number; gid?: number; home?: string; shell?: string } = {},
  ) => {
    if (users.has(name) && !value.uid) return
    const uid = value.uid ?? nextId++
    users.set(name, uid)
    passwd.push(`${name}:x:${uid}:${value.gid ?? uid}::${value.home ?? '/'}:${value.shell ?? '/bin/sh'}`)
  }
  const addGroup = (name: string, gid?: number) => {
    if (groups.has(name) && gid === undefined) return
    const id = gid ?? nextId++
    groups.set(name, id)
    group.push(`${name}:x:${id}:`)
  }
  const sysctl: string[] = []
  for (const entry of content.config) {
    const [namespace, name] = [
      entry.key.slice(0, entry.key.indexOf(':')),
      entry.key.slice(entry.key.indexOf(':') + 1),
    ]
    if (isConfigChoice(entry)) {
      // A unit that is to be enabled: a unit file with an [Install] section, linked where it says.
      if (namespace === 'systemd' && entry.oneOf.includes(IS_ENABLED[1])) {
        write(
          `usr/lib/systemd/system/${name}`,
          '[Unit]\nDescription=corpus\n\n[Install]\nWantedBy=multi-user.target\n',
        )
        mkdirSync(join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true })
        symlinkSync(
          `/usr/lib/systemd/system/${name}`,
          join(root, 'etc/systemd/system/multi-user.target.wants', name),
        )
      }
      continue
    }
    const value = entry.value as Record<string, number | string> | string | null
    if (value === null) continue
    if (namespace === 'user')
      addUser(name, value as { uid?: number; gid?: number; home?: string; shell?: string })
    if (namespace === 'group') addGroup(name, (value as { gid?: number }).gid)
    if (namespace === 'sysctl') sysctl.push(`${name} = ${value}`)
  }
  for (const f of content.files) {
    if (f.owner) addUser(f.owner)
    if (f.group) addGroup(f.group)
  }
  write('etc/passwd', `${passwd.join('\n')}\n`)
  write('etc/group', `${group.join('\n')}\n`)
  if (sysctl.length) write('etc/sysctl.d/99-corpus.conf', `${sysctl.join('\n')}\n`)

  const dpkg: string[] = []
  const apk: string[] = []
  for (const p of content.packages) {
    if (p.state === NOT_INSTALLED) continue
    const arch = p.arch === ANY_ARCH ? (p.manager === 'deb' ? 'amd64' : 'x86_64') : p.arch
    const version = p.version === ANY_VERSION ? '1.0-1' : p.version
    if (p.manager === 'deb')
      dpkg.push(
        `Package: ${p.name}\nStatus: install ok installed\nArchitecture: ${arch}\nVersion: ${version}\n`,
      )
    if (p.manager === 'apk') apk.push(`P:${p.name}\nV:${version}\nA:${arch}\n`)
  }
  if (dpkg.length) write('var/lib/dpkg/status', `${dpkg.join('\n')}\n`)
  if (apk.length) write('lib/apk/db/installed', `${apk.join('\n')}\n`)

  for (const f of [...content.files].sort((a, b) => a.path.length - b.path.length)) {
    const real = join(root, f.path)
    mkdirSync(dirname(real), { recursive: true })
    if (f.type === 'symlink' || f.target !== undefined) symlinkSync(f.target ?? '/', real)
    else if (f.type === 'dir') mkdirSync(real, { recursive: true })
    else if (!existsSync(real)) writeFileSync(real, Buffer.alloc(f.size ?? 0, 'x'))
    if (f.type !== 'symlink' && f.target === undefined) {
      if (f.mode) chmodSync(real, Number.parseInt(f.mode, 8))
      const uid = f.uid ?? (f.owner ? users.get(f.owner) : undefined)
      const gid = f.gid ?? (f.group ? groups.get(f.group) : undefined)
      if (uid !== undefined || gid !== undefined) chownSync(real, uid ?? 0, gid ?? 0)
    }
  }
}
