import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { PathMatcher } from '../../src/config/path-matcher.js'
import { compareConfig } from '../../src/drift/config.js'
import { ANY_ARCH, ANY_VERSION, comparePackages, NOT_INSTALLED } from '../../src/drift/packages.js'
import { DriftwatchError } from '../../src/errors.js'
import { fromCycloneDx } from '../../src/import/cyclonedx.js'
import { declaredManifest, declaredPolicy, literalGlob, requireSomething } from '../../src/import/declared.js'
import { fromGoss, IS_ENABLED, IS_NOT_ENABLED } from '../../src/import/goss.js'
import { packageFromPurl, parsePurl } from '../../src/import/purl.js'
import type { PackageRecord } from '../../src/manifest/schema.js'
import { ManifestSchema } from '../../src/manifest/schema.js'

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/declared/${name}`, import.meta.url), 'utf8')

/** The DriftwatchError a call throws, as code, message and hint. */
function failure(call: () => unknown): { code: string; message: string; hint: string | undefined } {
  try {
    call()
  } catch (error) {
    if (error instanceof DriftwatchError)
      return { code: error.code, message: error.message, hint: error.hint }
    throw error
  }
  throw new Error('expected a DriftwatchError')
}

describe('fromGoss: each resource type', () => {
  test.each([
    {
      name: 'package with versions (any arch: Goss states none)',
      yaml: 'package:\n  curl:\n    installed: true\n    versions:\n    - 7.88.1-10+deb12u5\n',
      packages: [{ manager: 'deb', name: 'curl', arch: ANY_ARCH, version: '7.88.1-10+deb12u5' }],
    },
    {
      name: 'package in several versions (rpm kernels)',
      yaml: 'package:\n  kernel:\n    installed: true\n    versions: [5.14.0-362.el9, 5.14.0-427.el9]\n',
      manager: 'rpm' as const,
      packages: [
        { manager: 'rpm', name: 'kernel', arch: ANY_ARCH, version: '5.14.0-362.el9' },
        { manager: 'rpm', name: 'kernel', arch: ANY_ARCH, version: '5.14.0-427.el9' },
      ],
    },
    {
      name: 'package installed in any version',
      yaml: 'package:\n  nginx:\n    installed: true\n',
      packages: [{ manager: 'deb', name: 'nginx', arch: ANY_ARCH, version: ANY_VERSION }],
    },
    {
      name: 'package that must not be installed',
      yaml: 'package:\n  telnet:\n    installed: false\n',
      packages: [{ manager: 'deb', name: 'telnet', arch: ANY_ARCH, version: '', state: NOT_INSTALLED }],
    },
    {
      name: 'dpkg name:arch, and the name attribute over the key',
      yaml: 'package:\n  libc:\n    name: libc6:i386\n    installed: true\n    versions: ["2.36-9"]\n',
      packages: [{ manager: 'deb', name: 'libc6', arch: 'i386', version: '2.36-9' }],
    },
    {
      name: 'apk manager',
      yaml: 'package:\n  busybox:\n    installed: true\n    versions: [1.36.1-r15]\n',
      manager: 'apk' as const,
      packages: [{ manager: 'apk', name: 'busybox', arch: ANY_ARCH, version: '1.36.1-r15' }],
    },
  ])('$name', ({ yaml, manager, packages }) => {
    const content = fromGoss(yaml, 'goss.yaml', manager ? { manager } : {})
    expect(content.packages).toEqual(packages)
    expect(content.files).toEqual([])
    expect(content.config).toEqual([])
  })

  test.each([
    {
      name: 'a file as goss add writes it: owner names are kept, for the scanned root to resolve',
      yaml: 'file:\n  /etc/passwd:\n    exists: true\n    mode: "0644"\n    size: 1234\n    owner: root\n    group: root\n    filetype: file\n    contents: []\n    sha256: 7F78CE27859049F725936F7B52C6E25D774012947D915E7B394402CFCEB70C4C\n',
      files: [
        {
          path: '/etc/passwd',
          type: 'file',
          mode: '0644',
          size: 1234,
          owner: 'root',
          group: 'root',
          sha256: '7f78ce27859049f725936f7b52c6e25d774012947d915e7b394402cfceb70c4c',
        },
      ],
      unchecked: {},
    },
    {
      name: 'numeric owner and group are ids; uid and gid too',
      yaml: 'file:\n  /srv/a:\n    exists: true\n    owner: 0\n    group: 33\n  /srv/b:\n    exists: true\n    uid: 1000\n    gid: 1000\n    owner: deploy\n',
      files: [
        { path: '/srv/a', uid: 0, gid: 33 },
        { path: '/srv/b', uid: 1000, gid: 1000 },
      ],
      unchecked: {},
    },
    {
      name: 'mode written as a number or in three digits',
      yaml: 'file:\n  /usr/bin/passwd:\n    exists: true\n    mode: 4755\n  /usr/bin/ls:\n    exists: true\n    mode: "755"\n',
      files: [
        { path: '/usr/bin/ls', mode: '0755' },
        { path: '/usr/bin/passwd', mode: '4755' },
      ],
      unchecked: {},
    },
    {
      name: 'a symlink and its target; a directory (its size says nothing)',
      yaml: 'file:\n  /etc/alternatives/mta:\n    exists: true\n    filetype: symlink\n    linked-to: /usr/sbin/sendmail.sendmail\n  /var/www:\n    exists: true\n    filetype: directory\n    size: 4096\n',
      files: [
        { path: '/etc/alternatives/mta', type: 'symlink', target: '/usr/sbin/sendmail.sendmail' },
        { path: '/var/www', type: 'dir' },
      ],
      unchecked: { 'file.size': 1 },
    },
    {
      name: 'what only Goss can check is counted: content patterns, md5, sha512',
      yaml: 'file:\n  /etc/motd:\n    exists: true\n    contents: [Debian]\n    md5: 9830e3dbb6a828f2cc824db8db0ceaf7\n    sha512: abc\n',
      files: [{ path: '/etc/motd' }],
      unchecked: { 'file.contents': 1, 'file.md5': 1, 'file.sha512': 1 },
    },
    {
      name: 'the path attribute over the key',
      yaml: 'file:\n  mta link:\n    path: /etc/alternatives/mta\n    exists: true\n',
      files: [{ path: '/etc/alternatives/mta' }],
      unchecked: {},
    },
  ])('file: $name', ({ yaml, files, unchecked }) => {
    const content = fromGoss(yaml, 'goss.yaml')
    expect(content.files).toEqual(files)
    expect(content.unchecked).toEqual(unchecked)
  })

  test('a file that must not exist is an absent path, not an entry', () => {
    const content = fromGoss('file:\n  /usr/bin/telnet:\n    exists: false\n    contents: []\n', 'goss.yaml')
    expect(content.files).toEqual([])
    expect(content.absent).toEqual(['/usr/bin/telnet'])
  })

  test.each([
    {
      name: 'service enabled, running left unchecked',
      yaml: 'service:\n  ssh:\n    enabled: true\n    running: true\n',
      config: [{ key: 'systemd:ssh.service', oneOf: IS_ENABLED }],
      unchecked: { 'service.running': 1 },
    },
    {
      name: 'service disabled; a unit type other than service keeps its suffix',
      yaml: 'service:\n  cron:\n    enabled: false\n  docker.socket:\n    enabled: true\n',
      config: [
        { key: 'systemd:cron.service', oneOf: IS_NOT_ENABLED },
        { key: 'systemd:docker.socket', oneOf: IS_ENABLED },
      ],
      unchecked: {},
    },
    {
      name: 'service with only running: nothing to check',
      yaml: 'service:\n  nginx:\n    running: true\n',
      config: [],
      unchecked: { 'service.running': 1 },
    },
    {
      name: 'user with the fields it states, groups left unchecked',
      yaml: 'user:\n  www-data:\n    exists: true\n    uid: 33\n    gid: 33\n    groups: [www-data]\n    home: /var/www\n    shell: /usr/sbin/nologin\n',
      config: [
        { key: 'user:www-data', value: { uid: 33, gid: 33, home: '/var/www', shell: '/usr/sbin/nologin' } },
      ],
      unchecked: { 'user.groups': 1 },
    },
    {
      name: 'user stated only by its shell, ids written as strings (old Goss files)',
      yaml: 'user:\n  deploy:\n    exists: true\n    uid: "1001"\n    shell: /bin/bash\n',
      config: [{ key: 'user:deploy', value: { uid: 1001, shell: '/bin/bash' } }],
      unchecked: {},
    },
    {
      name: 'user that must not exist',
      yaml: 'user:\n  games:\n    exists: false\n',
      config: [{ key: 'user:games', value: null }],
      unchecked: {},
    },
    {
      name: 'group, and a group that must not exist',
      yaml: 'group:\n  www-data:\n    exists: true\n    gid: 33\n  games:\n    exists: false\n',
      config: [
        { key: 'group:games', value: null },
        { key: 'group:www-data', value: { gid: 33 } },
      ],
      unchecked: {},
    },
    {
      name: 'kernel-param: numbers are values, slash names are dotted, whitespace collapsed',
      yaml: 'kernel-param:\n  net/ipv4/ip_forward:\n    value: 0\n  net.ipv4.tcp_rmem:\n    value: "4096\\t131072   6291456"\n',
      config: [
        { key: 'sysctl:net.ipv4.ip_forward', value: '0' },
        { key: 'sysctl:net.ipv4.tcp_rmem', value: '4096 131072 6291456' },
      ],
      unchecked: {},
    },
  ])('config: $name', ({ yaml, config, unchecked }) => {
    const content = fromGoss(yaml, 'goss.yaml')
    expect(content.config).toEqual(config)
    expect(content.unchecked).toEqual(unchecked)
  })

  test('resources with skip: true are left out and counted', () => {
    const content = fromGoss(
      'package:\n  curl:\n    installed: true\n    skip: true\nservice:\n  ssh:\n    enabled: true\n    skip: true\n',
      'goss.yaml',
    )
    expect(content.packages).toEqual([])
    expect(content.config).toEqual([])
    expect(content.skipped).toEqual({ 'package with skip: true': 1, 'service with skip: true': 1 })
  })

  test('an empty resource list and title/meta are accepted', () => {
    const content = fromGoss(
      'file:\npackage:\n  curl:\n    title: curl for the health check\n    meta: { owner: web }\n    installed: true\n',
      'goss.yaml',
    )
    expect(content.packages).toHaveLength(1)
  })

  test('the fixture, as goss add writes it', () => {
    const content = fromGoss(fixture('goss.yaml'), 'goss.yaml')
    expect(content.files.map((f) => f.path)).toEqual([
      '/bin',
      '/etc/debian_version',
      '/etc/issue',
      '/usr/sbin',
    ])
    expect(content.absent).toEqual(['/usr/bin/telnet'])
    expect(content.packages.map((p) => [p.name, p.version, p.state])).toEqual([
      ['base-files', '12.4+deb12u11', undefined],
      ['cron', '', NOT_INSTALLED],
      ['hostname', '3.23+nmu1', undefined],
      ['libc6', '2.36-9+deb12u14', undefined],
      ['login', '1:4.13+dfsg1-1+deb12u1', undefined],
      ['telnet', '', NOT_INSTALLED],
    ])
    expect(content.config.map((c) => c.key)).toEqual([
      'group:sudo',
      'group:www-data',
      'sysctl:kernel.kptr_restrict',
      'sysctl:net.ipv4.ip_forward',
      'systemd:cron.service',
      'systemd:ssh.service',
      'user:root',
      'user:www-data',
    ])
    expect(content.unchecked).toEqual({
      'service.running': 2,
      'user.groups': 2,
    })
  })
})

describe('fromGoss: what cannot be checked is skipped and counted, not refused', () => {
  test.each([
    {
      name: 'resource types that test a running host',
      yaml: 'command:\n  uptime:\n    exit-status: 0\n  id:\n    exit-status: 0\nport:\n  tcp:22:\n    listening: true\nfile:\n  /etc:\n    exists: true\n',
      skipped: { 'command resource': 2, 'port resource': 1 },
      unchecked: {},
    },
    {
      name: 'an include, and a key that is no Goss resource type (an anchor holder)',
      yaml: 'gossfile:\n  base.yaml: {}\nversions_anchor:\n  versions: [1]\nfile:\n  /etc:\n    exists: true\n',
      skipped: { 'gossfile resource': 1, 'versions_anchor (not a Goss resource type)': 1 },
      unchecked: {},
    },
    {
      name: 'a matcher for a mode and for a size',
      yaml: 'file:\n  /etc/passwd:\n    exists: true\n    mode:\n      have-prefix: "06"\n    size:\n      gt: 1152\n    uid: 0\n',
      skipped: {},
      unchecked: { 'file.mode': 1, 'file.size': 1 },
      files: [{ path: '/etc/passwd', uid: 0 }],
    },
    {
      name: 'a matcher for versions: the package is still stated installed',
      yaml: 'package:\n  kubeadm:\n    installed: true\n    versions:\n      or:\n      - contain-element: "1.30.1"\n',
      skipped: {},
      unchecked: { 'package.versions': 1 },
      packages: [{ manager: 'deb', name: 'kubeadm', arch: ANY_ARCH, version: ANY_VERSION }],
    },
    {
      name: 'a matcher where the resource needs a value: the resource is skipped',
      yaml: 'package:\n  curl:\n    installed:\n      not: false\nfile:\n  /etc:\n    exists: true\n',
      skipped: { 'package with a Goss matcher for installed': 1 },
      unchecked: {},
      packages: [],
    },
  ])('$name', ({ yaml, skipped, unchecked, ...want }) => {
    const content = fromGoss(yaml, 'goss.yaml')
    expect(content.skipped).toEqual(skipped)
    expect(content.unchecked).toEqual(unchecked)
    if ('files' in want) expect(content.files).toEqual(want.files)
    if ('packages' in want) expect(content.packages).toEqual(want.packages)
  })

  test('YAML merge keys are merged, as go-yaml does for Goss', () => {
    const yaml = [
      'versions: &pinned',
      '  versions: ["1.30.1-1.1"]',
      'package:',
      '  kubeadm:',
      '    installed: true',
      '    <<: *pinned',
      '  kubelet:',
      '    <<: *pinned',
      '    installed: true',
      '',
    ].join('\n')
    const content = fromGoss(yaml, 'goss.yaml')
    expect(content.packages.map((p) => [p.name, p.version])).toEqual([
      ['kubeadm', '1.30.1-1.1'],
      ['kubelet', '1.30.1-1.1'],
    ])
  })
})

describe('fromGoss: bad input', () => {
  test.each([
    {
      name: 'YAML syntax',
      yaml: 'file:\n  /etc/passwd:\n    exists: true\n   mode: "0644"\n',
      message: 'goss.yaml: line 4 column 1: All mapping items must start at the same column',
      hint: /fix the YAML there/,
    },
    {
      name: 'templates not rendered',
      yaml: 'package:\n  {{ .Vars.pkg }}:\n    installed: true\n',
      message: 'goss.yaml: line 2: a template, {{ .Vars.pkg }}, is not a value',
      hint: /goss render/,
    },
    {
      name: 'a list at the top',
      yaml: '- file\n',
      message: 'goss.yaml: (top level): expected a mapping of Goss resource types, got a list ["file"]',
      hint: /package, file, service, user, group, kernel-param/,
    },
    {
      name: 'an alias to an anchor never set (found by the fuzz test)',
      yaml: 'file:\n  /bin:\n    exists: *true\n',
      message: 'goss.yaml: (aliases): Unresolved alias (the anchor must be set before the alias): true',
      hint: /set each &anchor before/,
    },
    {
      name: 'a resource type that is not a mapping',
      yaml: 'file:\n  - /etc/passwd\n',
      message: 'goss.yaml: file: expected a mapping of names to attributes, got a list ["/etc/passwd"]',
      hint: /<name>/,
    },
    {
      name: 'an unknown attribute',
      yaml: 'file:\n  /etc/passwd:\n    exists: true\n    colour: red\n',
      message: 'goss.yaml: file["/etc/passwd"]: unknown attribute "colour"',
      hint: /^a Goss file has .*exists, mode, size, owner, group, uid, gid, filetype, linked-to, sha256/,
    },
    {
      name: 'exists left out',
      yaml: 'file:\n  /etc/passwd:\n    mode: "0644"\n',
      message: 'goss.yaml: file["/etc/passwd"].exists: required: true or false',
      hint: /goss add/,
    },
    {
      name: 'a mode that is not octal',
      yaml: 'file:\n  /etc/passwd:\n    exists: true\n    mode: rw-r--r--\n',
      message: 'goss.yaml: file["/etc/passwd"].mode: expected a mode like "0644", got "rw-r--r--"',
      hint: /goss add/,
    },
    {
      name: 'a relative path',
      yaml: 'file:\n  etc/passwd:\n    exists: true\n',
      message: 'goss.yaml: file["etc/passwd"]: expected an absolute path, got "etc/passwd"',
      hint: /write them from \//,
    },
    {
      name: 'a filetype Goss does not have',
      yaml: 'file:\n  /dev/sda:\n    exists: true\n    filetype: disk\n',
      message:
        'goss.yaml: file["/dev/sda"].filetype: expected file, directory, symlink, socket, pipe, character-device, block-device, got "disk"',
      hint: /goss add/,
    },
    {
      name: 'a version YAML reads as a number',
      yaml: 'package:\n  nginx:\n    installed: true\n    versions:\n    - 1.10\n',
      message:
        'goss.yaml: package["nginx"].versions[0]: expected a version string (quote it: "2.10"), got 1.1',
      hint: /goss add/,
    },
    {
      name: 'installed as a string',
      yaml: 'package:\n  nginx:\n    installed: "yes"\n',
      message: 'goss.yaml: package["nginx"].installed: expected true or false, got "yes"',
      hint: /goss add/,
    },
    {
      name: 'a kernel-param without a value',
      yaml: 'kernel-param:\n  net.ipv4.ip_forward: {}\n',
      message: 'goss.yaml: kernel-param["net.ipv4.ip_forward"].value: expected a value like "1", got nothing',
      hint: /goss add/,
    },
    {
      name: 'a uid that is not a number',
      yaml: 'user:\n  deploy:\n    exists: true\n    uid: deploy\n',
      message: 'goss.yaml: user["deploy"].uid: expected a number like 1000, got "deploy"',
      hint: /goss add/,
    },
    {
      name: 'two entries for one path',
      yaml: 'file:\n  /etc/mta:\n    exists: true\n  mta:\n    path: /etc/mta\n    exists: true\n',
      message: 'goss.yaml: file["mta"]: states the same path /etc/mta as file["/etc/mta"]',
      hint: /keep one entry/,
    },
    {
      name: 'two kernel-params that are one key',
      yaml: 'kernel-param:\n  net.ipv4.ip_forward:\n    value: "0"\n  net/ipv4/ip_forward:\n    value: "1"\n',
      message:
        'goss.yaml: kernel-param["net/ipv4/ip_forward"]: states the same kernel parameter net.ipv4.ip_forward as kernel-param["net.ipv4.ip_forward"]',
      hint: /keep one entry/,
    },
  ])('$name', ({ yaml, message, hint }) => {
    const error = failure(() => fromGoss(yaml, 'goss.yaml'))
    expect(error.code).toBe('INPUT_INVALID')
    if (typeof message === 'string') expect(error.message).toBe(message)
    else expect(error.message).toMatch(message)
    expect(error.hint).toMatch(hint)
  })
})

describe('package URLs', () => {
  test.each([
    {
      purl: 'pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12',
      parsed: {
        type: 'deb',
        namespace: 'debian',
        name: 'curl',
        version: '7.88.1-10+deb12u5',
        qualifiers: { arch: 'amd64', distro: 'debian-12' },
      },
    },
    {
      purl: 'pkg:deb/debian/login@1:4.13%2Bdfsg1-1%2Bdeb12u1?arch=amd64&upstream=shadow&distro=debian-12',
      parsed: {
        type: 'deb',
        namespace: 'debian',
        name: 'login',
        version: '1:4.13+dfsg1-1+deb12u1',
        qualifiers: { arch: 'amd64', upstream: 'shadow', distro: 'debian-12' },
      },
    },
    {
      purl: 'pkg:npm/%40angular/core@16.2.0',
      parsed: { type: 'npm', namespace: '@angular', name: 'core', version: '16.2.0', qualifiers: {} },
    },
    {
      purl: 'pkg:golang/github.com/gorilla/mux@v1.8.0#internal/route',
      parsed: {
        type: 'golang',
        namespace: 'github.com/gorilla',
        name: 'mux',
        version: 'v1.8.0',
        qualifiers: {},
        subpath: 'internal/route',
      },
    },
    {
      purl: 'pkg://DEB/debian/tzdata?Arch=all&distro=',
      parsed: { type: 'deb', namespace: 'debian', name: 'tzdata', qualifiers: { arch: 'all' } },
    },
    { purl: 'cpe:2.3:a:curl:curl:7.88.1:*:*:*:*:*:*:*', parsed: undefined },
    { purl: 'pkg:', parsed: undefined },
    { purl: 'pkg:deb', parsed: undefined },
    { purl: 'pkg:deb/', parsed: undefined },
    { purl: 'pkg:deb/debian/bad%ZZname@1', parsed: undefined },
  ])('$purl', ({ purl, parsed }) => {
    expect(parsePurl(purl)).toEqual(parsed)
  })

  test.each([
    {
      purl: 'pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc&distro=debian-12',
      manager: 'deb' as const,
      record: { manager: 'deb', name: 'libc6', arch: 'amd64', version: '2.36-9+deb12u4' },
    },
    {
      // Trivy puts the epoch in a qualifier; the database spells it in the version.
      purl: 'pkg:deb/debian/bsdutils@2.38.1-5%2Bb1?arch=amd64&distro=debian-12&epoch=1',
      manager: 'deb' as const,
      record: { manager: 'deb', name: 'bsdutils', arch: 'amd64', version: '1:2.38.1-5+b1' },
    },
    {
      purl: 'pkg:rpm/redhat/openssl@3.0.7-24.el9?arch=x86_64&epoch=1&distro=rhel-9.3',
      manager: 'rpm' as const,
      record: { manager: 'rpm', name: 'openssl', arch: 'x86_64', version: '1:3.0.7-24.el9' },
    },
    {
      purl: 'pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&upstream=busybox&distro=alpine-3.19.1',
      manager: 'apk' as const,
      record: { manager: 'apk', name: 'busybox', arch: 'x86_64', version: '1.36.1-r15' },
    },
    {
      purl: 'pkg:deb/debian/tzdata',
      manager: 'deb' as const,
      record: { manager: 'deb', name: 'tzdata', arch: ANY_ARCH, version: ANY_VERSION },
    },
  ])('$purl is a package', ({ purl, manager, record }) => {
    const parsed = parsePurl(purl)
    expect(parsed).toBeDefined()
    expect(packageFromPurl(manager, parsed as NonNullable<typeof parsed>)).toEqual(record)
  })
})

describe('fromCycloneDx', () => {
  test('a syft SBOM: its deb packages, the rest skipped and counted', () => {
    const content = fromCycloneDx(fixture('web-base.cdx.json'), 'web-base.cdx.json')
    expect(content.packages).toEqual([
      { manager: 'deb', name: 'base-files', arch: 'amd64', version: '12.4+deb12u11' },
      { manager: 'deb', name: 'hostname', arch: 'amd64', version: '3.23+nmu1' },
      { manager: 'deb', name: 'libc6', arch: 'amd64', version: '2.36-9+deb12u14' },
      { manager: 'deb', name: 'login', arch: 'amd64', version: '1:4.13+dfsg1-1+deb12u1' },
    ])
    expect(content.skipped).toEqual({ 'pkg:npm': 1, 'type operating-system': 1 })
    expect(content.files).toEqual([])
    expect(content.config).toEqual([])
  })

  test('nested components are read; duplicates are one package; a component without a purl is counted', () => {
    const bom = {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      components: [
        {
          type: 'application',
          name: 'kernel',
          purl: 'pkg:rpm/rocky/kernel@5.14.0-362.el9?arch=x86_64',
          components: [
            { type: 'library', name: 'kernel', purl: 'pkg:rpm/rocky/kernel@5.14.0-427.el9?arch=x86_64' },
          ],
        },
        { type: 'library', name: 'kernel', purl: 'pkg:rpm/rocky/kernel@5.14.0-362.el9?arch=x86_64' },
        { type: 'library', name: 'vendored-thing' },
        { type: 'library', name: 'weird', purl: 'not a purl' },
        { type: 'file', name: '/etc/passwd' },
      ],
    }
    const content = fromCycloneDx(JSON.stringify(bom), 'sbom.json')
    expect(content.packages.map((p) => p.version)).toEqual(['5.14.0-362.el9', '5.14.0-427.el9'])
    expect(content.skipped).toEqual({ 'no purl': 1, 'not a package URL': 1, 'type file': 1 })
  })

  test('syft before 0.60 wrote apk packages as pkg:alpine: they are apk packages', () => {
    const bom = {
      bomFormat: 'CycloneDX',
      specVersion: '1.4',
      components: [
        {
          type: 'library',
          name: 'musl',
          purl: 'pkg:alpine/musl@1.2.2-r7?arch=x86_64&upstream=musl&distro=alpine-3.15.0',
        },
      ],
    }
    expect(fromCycloneDx(JSON.stringify(bom), 'sbom.json').packages).toEqual([
      { manager: 'apk', name: 'musl', arch: 'x86_64', version: '1.2.2-r7' },
    ])
  })

  test('an import from which nothing checkable came is refused, with what was skipped', () => {
    const bom = {
      bomFormat: 'CycloneDX',
      specVersion: '1.5',
      components: [{ type: 'library', name: 'x', purl: 'pkg:npm/x@1' }],
    }
    const content = fromCycloneDx(JSON.stringify(bom), 'sbom.json')
    const error = failure(() => requireSomething(content, 'sbom.json'))
    expect(error.code).toBe('INPUT_INVALID')
    expect(error.message).toBe('sbom.json: nothing driftwatch can check (skipped: 1 pkg:npm)')
    expect(() =>
      requireSomething(fromGoss('file:\n  /etc:\n    exists: true\n', 'g.yaml'), 'g.yaml'),
    ).not.toThrow()
  })

  test('1.4 without components is an empty package list', () => {
    expect(fromCycloneDx('{"bomFormat":"CycloneDX","specVersion":"1.4"}', 'sbom.json').packages).toEqual([])
  })

  test.each([
    {
      name: 'not JSON',
      text: '{"bomFormat": "CycloneDX",\n "specVersion": }',
      message: /^sbom\.json: not valid JSON/,
      hint: /cyclonedx-json/,
    },
    {
      name: 'XML',
      text: '<?xml version="1.0"?>\n<bom xmlns="http://cyclonedx.org/schema/bom/1.5"/>',
      message: /^sbom\.json: not valid JSON/,
      hint: /^this looks like CycloneDX XML: export JSON instead/,
    },
    {
      name: 'an SPDX document',
      text: '{"spdxVersion":"SPDX-2.3","packages":[]}',
      message: 'sbom.json: bomFormat: expected "CycloneDX"',
      hint: /CycloneDX JSON SBOM/,
    },
    {
      name: 'an older CycloneDX',
      text: '{"bomFormat":"CycloneDX","specVersion":"1.2","components":[]}',
      message: 'sbom.json: specVersion: expected one of 1.4, 1.5, 1.6, got "1.2"',
      hint: /CycloneDX JSON SBOM/,
    },
    {
      name: 'a component without a name',
      text: '{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"a"},{"type":"library"}]}',
      message: 'sbom.json: components[1].name: Invalid input: expected string, received undefined',
      hint: /CycloneDX JSON SBOM/,
    },
  ])('$name', ({ text, message, hint }) => {
    const error = failure(() => fromCycloneDx(text, 'sbom.json'))
    expect(error.code).toBe('INPUT_INVALID')
    if (typeof message === 'string') expect(error.message).toBe(message)
    else expect(error.message).toMatch(message)
    expect(error.hint).toMatch(hint)
  })
})

describe('the declared manifest', () => {
  const policy = loadPolicy()

  test('watches exactly the declared and absent paths, none excluded; the rest of the policy stays', () => {
    const narrowed = declaredPolicy(policy, {
      files: [{ path: '/etc/passwd' }, { path: '/usr/bin/ls' }],
      absent: ['/usr/bin/telnet'],
    })
    expect(narrowed.files.include).toEqual(['/etc/passwd', '/usr/bin/ls', '/usr/bin/telnet'])
    expect(narrowed.files.exclude).toEqual([])
    expect(narrowed.files.rules).toEqual(policy.files.rules)
    expect(narrowed.packages).toEqual(policy.packages)
    expect(narrowed.config).toEqual(policy.config)
  })

  test('with no paths it watches nothing', () => {
    const narrowed = declaredPolicy(policy, { files: [], absent: [] })
    const matcher = new PathMatcher(narrowed.files)
    expect(['/', '/etc', '/etc/passwd', '/.hidden'].some((p) => matcher.records(p))).toBe(false)
  })

  test.each([
    '/etc/passwd',
    '/etc/we[ird]/name',
    '/opt/a{b,c}',
    '/srv/!bang',
    '/srv/(paren)',
    '/srv/a*b?',
    '/srv/back\\slash',
    '/srv/plus+@at',
    '/srv/sp ace',
  ])('the glob of %s matches it and nothing else, and the walk can reach it', (path) => {
    const matcher = new PathMatcher({ ...policy.files, include: [literalGlob(path)], exclude: [], rules: [] })
    expect(matcher.records(path)).toBe(true)
    expect(matcher.records(`${path}x`)).toBe(false)
    expect(matcher.records('/srv/aXbY')).toBe(false)
    const parent = path.slice(0, path.lastIndexOf('/'))
    expect(matcher.mayContain(parent)).toBe(true)
    expect(matcher.walkStarts.every((start) => path === start || path.startsWith(`${start}/`))).toBe(true)
  })

  test('is a valid manifest whose source says it is declared', () => {
    const content = fromGoss(fixture('goss.yaml'), 'goss.yaml')
    const manifest = declaredManifest(content, {
      image: { id: 'web-base', version: '2026.11.27-1' },
      policy,
      source: { from: 'goss', file: 'goss.yaml' },
      now: new Date('2026-11-27T10:00:00Z'),
    })
    expect(ManifestSchema.parse(JSON.parse(JSON.stringify(manifest)))).toEqual(manifest)
    expect(manifest.image).toEqual({
      id: 'web-base',
      version: '2026.11.27-1',
      capturedAt: '2026-11-27T10:00:00.000Z',
      source: { declared: true, from: 'goss', file: 'goss.yaml' },
    })
  })
})

describe('comparing declared packages', () => {
  const deb = (name: string, version: string, extra: Partial<PackageRecord> = {}): PackageRecord => ({
    manager: 'deb',
    name,
    arch: 'amd64',
    version,
    ...extra,
  })
  const any = (name: string, version: string, extra: Partial<PackageRecord> = {}) =>
    deb(name, version, { arch: ANY_ARCH, ...extra })
  const compare = (expected: PackageRecord[], observed: PackageRecord[]) =>
    comparePackages(expected, observed, 'high', { complete: false }).map((i) => [
      i.change,
      i.subject,
      i.attributes ?? [],
    ])

  test.each([
    {
      name: 'any arch matches the installed arch',
      expected: [any('curl', '7.88')],
      observed: [deb('curl', '7.88')],
      drift: [],
    },
    {
      name: 'multi-arch copies of one version are that version',
      expected: [any('libc6', '2.36')],
      observed: [deb('libc6', '2.36'), deb('libc6', '2.36', { arch: 'i386' })],
      drift: [],
    },
    {
      name: 'another version names the installed arch',
      expected: [any('curl', '7.88')],
      observed: [deb('curl', '8.0')],
      drift: [['modified', 'deb:curl:amd64', ['version']]],
    },
    {
      name: 'an extra version installed alongside is drift',
      expected: [any('libc6', '2.36')],
      observed: [deb('libc6', '2.36'), deb('libc6', '2.37', { arch: 'i386' })],
      drift: [['modified', 'deb:libc6:*', ['version']]],
    },
    {
      name: 'missing in any arch',
      expected: [any('curl', '7.88')],
      observed: [],
      drift: [['removed', 'deb:curl:*', []]],
    },
    {
      name: 'any version',
      expected: [any('nginx', ANY_VERSION)],
      observed: [deb('nginx', '1.22')],
      drift: [],
    },
    {
      name: 'any version, but half-installed',
      expected: [any('nginx', ANY_VERSION)],
      observed: [deb('nginx', '1.22', { state: 'half-installed' })],
      drift: [['modified', 'deb:nginx:amd64', ['state']]],
    },
    {
      name: 'any version, not there',
      expected: [any('nginx', ANY_VERSION)],
      observed: [],
      drift: [['removed', 'deb:nginx:*', []]],
    },
    {
      name: 'not installed, and it is not',
      expected: [any('telnet', '', { state: NOT_INSTALLED })],
      observed: [deb('curl', '7.88')],
      drift: [],
    },
    {
      name: 'not installed, but it is: each installed arch is added',
      expected: [any('telnet', '', { state: NOT_INSTALLED })],
      observed: [deb('telnet', '0.17'), deb('telnet', '0.17', { arch: 'i386' })],
      drift: [
        ['added', 'deb:telnet:amd64', []],
        ['added', 'deb:telnet:i386', []],
      ],
    },
    {
      name: 'not installed: only its configuration files left is not installed',
      expected: [any('cron', '', { state: NOT_INSTALLED })],
      observed: [deb('cron', '3.0', { state: 'config-files' })],
      drift: [],
    },
    {
      name: 'not installed in one arch',
      expected: [deb('libc6', '', { arch: 'i386', state: NOT_INSTALLED })],
      observed: [deb('libc6', '2.36'), deb('libc6', '2.36', { arch: 'i386' })],
      drift: [['added', 'deb:libc6:i386', []]],
    },
  ])('$name', ({ expected, observed, drift }) => {
    expect(compare(expected, observed)).toEqual(drift)
  })

  test('an added package that must not be installed carries what is installed', () => {
    const [item] = comparePackages(
      [any('telnet', '', { state: NOT_INSTALLED })],
      [deb('telnet', '0.17')],
      'high',
      {
        complete: false,
      },
    )
    expect(item).toEqual({
      kind: 'package',
      change: 'added',
      subject: 'deb:telnet:amd64',
      actual: { version: '0.17' },
      severity: 'high',
    })
  })
})

describe('comparing declared configuration', () => {
  const policy = loadPolicy().config
  const user = {
    uid: 33,
    gid: 33,
    home: '/var/www',
    shell: '/usr/sbin/nologin',
    gecos: 'www-data',
    password: 'locked',
    shadow: `sha256:${'a'.repeat(64)}`,
  }
  const observed = [
    { key: 'user:www-data', value: user },
    { key: 'user:games', value: { ...user, uid: 5 } },
  ]

  test.each([
    {
      name: 'only the stated fields are compared',
      value: { shell: '/usr/sbin/nologin', uid: 33 },
      drift: [],
    },
    { name: 'nothing stated but presence', value: {}, drift: [] },
    {
      name: 'a stated field changed: both sides show the stated fields only',
      value: { shell: '/bin/bash', uid: 33 },
      drift: [
        {
          kind: 'config',
          change: 'modified',
          subject: 'user:www-data',
          expected: { shell: '/bin/bash', uid: 33 },
          actual: { shell: '/usr/sbin/nologin', uid: 33 },
          severity: 'critical',
        },
      ],
    },
  ])('$name', ({ value, drift }) => {
    expect(compareConfig([{ key: 'user:www-data', value }], observed, policy, { complete: false })).toEqual(
      drift,
    )
  })

  test('a captured manifest still compares whole values', () => {
    const items = compareConfig(
      [{ key: 'user:www-data', value: { shell: '/usr/sbin/nologin' } }],
      observed,
      policy,
      {
        complete: true,
      },
    )
    expect(items.map((i) => i.change)).toEqual(['modified', 'added'])
  })

  test('a key declared absent is drift only when present', () => {
    const items = compareConfig(
      [
        { key: 'user:games', value: null },
        { key: 'user:mallory', value: null },
      ],
      observed,
      policy,
      { complete: false },
    )
    expect(items).toEqual([
      {
        kind: 'config',
        change: 'added',
        subject: 'user:games',
        actual: { ...user, uid: 5 },
        severity: 'critical',
      },
    ])
  })

  test('a scalar value compares as it is', () => {
    const items = compareConfig(
      [{ key: 'systemd:ssh.service', value: 'enabled' }],
      [{ key: 'systemd:ssh.service', value: 'disabled' }],
      policy,
      { complete: false },
    )
    expect(items.map((i) => [i.subject, i.expected, i.actual])).toEqual([
      ['systemd:ssh.service', 'enabled', 'disabled'],
    ])
  })

  // systemctl(1): is-enabled exits 0 for enabled, enabled-runtime, alias, static, indirect,
  // generated and transient; Goss's `enabled: true` asks exactly that.
  test.each([
    { enabled: true, state: 'enabled', drift: false },
    { enabled: true, state: 'static', drift: false },
    { enabled: true, state: 'alias', drift: false },
    { enabled: true, state: 'indirect', drift: false },
    { enabled: true, state: 'enabled-runtime', drift: false },
    { enabled: true, state: 'disabled', drift: true },
    { enabled: true, state: 'masked', drift: true },
    { enabled: true, state: undefined, drift: true },
    { enabled: false, state: 'disabled', drift: false },
    { enabled: false, state: 'masked', drift: false },
    { enabled: false, state: undefined, drift: false },
    { enabled: false, state: 'static', drift: true },
    { enabled: false, state: 'alias', drift: true },
  ])('a Goss service with enabled: $enabled, the unit $state: drift $drift', ({ enabled, state, drift }) => {
    const declared = fromGoss(`service:\n  sshd:\n    enabled: ${enabled}\n`, 'goss.yaml').config
    const observed = state === undefined ? [] : [{ key: 'systemd:sshd.service', value: state }]
    const items = compareConfig(declared, observed, policy, { complete: false })
    expect(items.length > 0).toBe(drift)
    if (drift)
      expect(items[0]).toMatchObject({
        subject: 'systemd:sshd.service',
        expected: { oneOf: declared[0] && 'oneOf' in declared[0] ? declared[0].oneOf : [] },
      })
  })
})
