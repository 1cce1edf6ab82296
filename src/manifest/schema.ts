import { z } from 'zod'
import { FILE_ATTRIBUTES, PACKAGE_MANAGERS, PolicySchema } from '../config/policy.js'

export const MANIFEST_SCHEMA = 'driftwatch.manifest/v1'

export const FILE_TYPES = ['file', 'dir', 'symlink', 'fifo', 'socket', 'char', 'block'] as const
export type FileType = (typeof FILE_TYPES)[number]

/**
 * One file as recorded. Every attribute but `path` is optional: a declared (hand-written)
 * entry leaves unchecked what it leaves out.
 */
export const FileEntrySchema = z.strictObject({
  path: z
    .string()
    .min(1)
    .startsWith('/')
    .describe('Absolute path inside the root; bytes that are not UTF-8 are escaped as `\\udcXX`.'),
  type: z.enum(FILE_TYPES).optional().describe('What the path is: a file, a directory, a symlink, …'),
  mode: z
    .string()
    .regex(/^[0-7]{4}$/, 'expected four octal digits like "0755"')
    .optional()
    .describe('Permission bits with setuid/setgid/sticky, four octal digits ("4755").'),
  uid: z.number().int().nonnegative().optional().describe('Owner, by number.'),
  gid: z.number().int().nonnegative().optional().describe('Group, by number.'),
  size: z.number().int().nonnegative().optional().describe('Size in bytes (of a file).'),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits')
    .optional()
    .describe("SHA-256 of a file's content, 64 lowercase hex digits."),
  target: z.string().optional().describe("A symlink's target, as the link holds it."),
  caps: z
    .string()
    .optional()
    .describe('File capabilities (security.capability) in getcap\'s notation, e.g. "cap_net_raw=ep".'),
  xattrs: z
    .record(z.string(), z.string())
    .optional()
    .describe('Extended attributes other than capabilities: name → sha256 of the value.'),
  mtime: z
    .string()
    .optional()
    .describe('Modification time, "seconds.nanoseconds" since the epoch; recorded only where a rule asks.'),
  package: z
    .string()
    .optional()
    .describe("The package that owns the file (`deb:curl:amd64`), by the package manager's file lists."),
  /**
   * A capture records ids only; a declared manifest may state names (Goss does), which a scan
   * resolves against the scanned root's /etc/passwd and /etc/group.
   */
  owner: z
    .string()
    .min(1)
    .optional()
    .describe("Owner by name (declared manifests): resolved in the root's /etc/passwd, compared as uid."),
  group: z
    .string()
    .min(1)
    .optional()
    .describe("Group by name (declared manifests): resolved in the root's /etc/group, compared as gid."),
})
export type FileEntry = z.infer<typeof FileEntrySchema>

export type PackageManager = (typeof PACKAGE_MANAGERS)[number]

/** An installed package as its package manager records it: what the packages probe observes. */
export const PackageRecordSchema = z.strictObject({
  manager: z.enum(PACKAGE_MANAGERS).describe('The package manager that records it.'),
  name: z.string().min(1).describe('The package name.'),
  arch: z.string().describe('Architecture as the manager names it (amd64, x86_64, noarch, all, …).'),
  version: z.string().describe('The version as the manager writes it (epoch and release included).'),
  state: z
    .string()
    .optional()
    .describe(
      'Set when the package is not cleanly installed (dpkg "half-installed", "config-files", "unpacked", …): itself worth a finding.',
    ),
})
export type PackageRecord = z.infer<typeof PackageRecordSchema>

/** `deb|rpm|apk:<name>:<arch>`, the subject of package drift items. */
export function packageSubject(p: Pick<PackageRecord, 'manager' | 'name' | 'arch'>): string {
  return `${p.manager}:${p.name}:${p.arch}`
}

/** One configuration key and its value: `sysctl:net.ipv4.ip_forward` -> "0". */
export interface ConfigEntry {
  key: string
  value: unknown
}

/**
 * A declared configuration key that accepts any of several values, compared as a set: Goss's
 * `service: {enabled: true}` means `systemctl is-enabled` exits 0, which five of its words do.
 * A null among them accepts the key's absence (a unit that is not installed is not enabled).
 */
export interface ConfigChoice {
  key: string
  oneOf: unknown[]
}

/** What a manifest states of one configuration key: its value, or the values it may take. */
export type ManifestConfigEntry = ConfigEntry | ConfigChoice

const ConfigKey = z
  .string()
  .regex(/^[a-z]+:.+/, 'expected <namespace>:<name>')
  .describe('`<namespace>:<name>`, e.g. `sysctl:net.ipv4.ip_forward` or `sshd:permitrootlogin`.')
export const ConfigEntrySchema: z.ZodType<ManifestConfigEntry> = z.union([
  z
    .strictObject({
      key: ConfigKey,
      value: z.unknown().describe('The value the key has (a string, number, boolean, list or object).'),
    })
    .transform((e): ConfigEntry => e),
  z.strictObject({
    key: ConfigKey,
    oneOf: z
      .array(z.unknown())
      .min(1)
      .describe('Values the key may take, any one of them; a null among them accepts its absence.'),
  }),
])

export function isConfigChoice(entry: ManifestConfigEntry): entry is ConfigChoice {
  return 'oneOf' in entry
}

export const ImageRefSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected letters, digits, ".", "_" or "-"')
    .describe('The image, e.g. `web-base`: letters, digits, ".", "_" or "-".'),
  version: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, 'expected letters, digits, ".", "_", "+" or "-"')
    .describe('The build of the image, e.g. `2026.11.27-1`.'),
  capturedAt: z.string().describe('When the manifest was captured, ISO 8601.'),
  source: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('Where the manifest came from (the root captured, or the Goss or CycloneDX file imported).'),
})

/**
 * The file entries' shape checked by hand: a captured image has a hundred thousand of them,
 * and this is several times faster than the schema. An entry that fails it is handed to
 * FileEntrySchema, which says precisely what is wrong.
 */
export function isValidFileEntry(value: unknown): value is FileEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const e = value as Record<string, unknown>
  let keys = 0
  for (const key in e) {
    keys++
    const v = e[key]
    switch (key) {
      case 'path':
        if (typeof v !== 'string' || v.length === 0 || v.charCodeAt(0) !== 47) return false
        break
      case 'type':
        if (typeof v !== 'string' || !FILE_TYPE_SET.has(v)) return false
        break
      case 'mode':
        if (typeof v !== 'string' || !MODE.test(v)) return false
        break
      case 'uid':
      case 'gid':
      case 'size':
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return false
        break
      case 'sha256':
        if (typeof v !== 'string' || !SHA256.test(v)) return false
        break
      case 'target':
      case 'caps':
      case 'mtime':
      case 'package':
        if (typeof v !== 'string') return false
        break
      case 'owner':
      case 'group':
        if (typeof v !== 'string' || v === '') return false
        break
      case 'xattrs':
        if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
        for (const name in v) if (typeof (v as Record<string, unknown>)[name] !== 'string') return false
        break
      default:
        return false
    }
  }
  return keys > 0 && typeof e.path === 'string'
}
const FILE_TYPE_SET = new Set<string>(FILE_TYPES)
const MODE = /^[0-7]{4}$/
const SHA256 = /^[0-9a-f]{64}$/

export const ManifestSchema = z.strictObject({
  schema: z.literal(MANIFEST_SCHEMA).describe('The manifest format: `driftwatch.manifest/v1`.'),
  digest: z
    .string()
    .optional()
    .describe('`sha256:<hex>` of the canonical form without this field; checked when the manifest is read.'),
  image: ImageRefSchema.describe('The image this manifest describes.'),
  policy: PolicySchema.describe(
    'The policy the manifest was captured with (`config/policy.yaml` or `--policy FILE`): every scan checks by it.',
  ),
  files: z
    .custom<FileEntry[]>(Array.isArray, 'expected an array')
    .superRefine((files, ctx) => {
      for (let i = 0; i < files.length; i++) {
        if (isValidFileEntry(files[i])) continue
        const result = FileEntrySchema.safeParse(files[i])
        for (const issue of result.error?.issues ?? [])
          ctx.addIssue({ ...issue, path: [i, ...issue.path] } as never)
        if (!result.success) return
      }
    })
    .describe('Every path the policy watches, sorted by path; a declared entry checks only what it states.'),
  packages: z
    .array(PackageRecordSchema)
    .default([])
    .describe('Every installed package, as the package managers record them.'),
  config: z
    .array(ConfigEntrySchema)
    .default([])
    .describe('Configuration keys and their values, from the namespaces the policy fingerprints.'),
})
export type Manifest = z.output<typeof ManifestSchema>

export { FILE_ATTRIBUTES }
