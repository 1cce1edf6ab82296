import { z } from 'zod'
import { SEVERITIES, type Severity } from '../protocol/report.js'

/** Attributes of a file that the files probe can record and the comparison can check. */
export const FILE_ATTRIBUTES = [
  'type',
  'mode',
  'uid',
  'gid',
  'size',
  'sha256',
  'target',
  'caps',
  'xattrs',
  'mtime',
] as const
export type FileAttribute = (typeof FILE_ATTRIBUTES)[number]

/** The report's severities, which the policy assigns: one list, kept with the report's schema. */
export { SEVERITIES, type Severity }

/** The configuration namespaces the probes fingerprint. */
export const CONFIG_NAMESPACES = ['sysctl', 'systemd', 'user', 'group', 'sshd', 'os'] as const
export type ConfigNamespace = (typeof CONFIG_NAMESPACES)[number]
export const PACKAGE_MANAGERS = ['deb', 'rpm', 'apk'] as const

const Glob = z
  .string()
  .min(1)
  .refine((g) => g.startsWith('/') || g.startsWith('**'), 'a path glob must be absolute (start with / or **)')

const FileRule = z.strictObject({
  /** Globs over absolute paths inside the root; the first rule that matches a path decides. */
  match: z.array(Glob).min(1),
  severity: z.enum(SEVERITIES),
  /** Replaces the default attribute set for matching paths. */
  attributes: z.array(z.enum(FILE_ATTRIBUTES)).optional(),
})
export type FileRule = z.infer<typeof FileRule>

export const PolicySchema = z.strictObject({
  schema: z.literal('driftwatch.policy/v1'),
  files: z.strictObject({
    /** What is watched: a path is recorded when it matches one of these and none of `exclude`. */
    include: z.array(Glob).min(1),
    /** Never recorded, never descended into: what legitimately differs on every instance. */
    exclude: z.array(Glob).default([]),
    /** Do not cross into other mounted file systems below a walked directory. */
    oneFileSystem: z.boolean().default(true),
    defaultAttributes: z
      .array(z.enum(FILE_ATTRIBUTES))
      .default(['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'target', 'caps']),
    defaultSeverity: z.enum(SEVERITIES).default('medium'),
    rules: z.array(FileRule).default([]),
  }),
  packages: z
    .strictObject({
      /** Package managers whose databases are read (each one only where its database exists). */
      managers: z.array(z.enum(PACKAGE_MANAGERS)).default([...PACKAGE_MANAGERS]),
      /** A package added, removed, upgraded or left half-installed. */
      severity: z.enum(SEVERITIES).default('high'),
    })
    .prefault({}),
  config: z
    .strictObject({
      /** The namespaces fingerprinted, and how much a change in each matters. */
      namespaces: z.partialRecord(z.enum(CONFIG_NAMESPACES), z.enum(SEVERITIES)).default({
        sysctl: 'high',
        systemd: 'high',
        user: 'critical',
        group: 'high',
        sshd: 'critical',
        os: 'medium',
      }),
      /**
       * Namespaces the image states in full: a key observed there that the manifest lacks is
       * "added". Elsewhere (sysctl, os) a host has keys an image folder cannot know, such as
       * running kernel values, so only the manifest's keys are compared.
       */
      complete: z.array(z.enum(CONFIG_NAMESPACES)).default(['systemd', 'user', 'group', 'sshd']),
      /** Keys (globs) never compared: what differs per instance or between a bake machine and a host. */
      ignore: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
})
export type Policy = z.output<typeof PolicySchema>
