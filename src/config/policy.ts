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
  match: z
    .array(Glob)
    .min(1)
    .describe('Globs over absolute paths inside the root; the first rule that matches a path decides.'),
  severity: z.enum(SEVERITIES).describe('How much a change to a matching path matters.'),
  attributes: z
    .array(z.enum(FILE_ATTRIBUTES))
    .optional()
    .describe('Replaces the default attribute set for matching paths.'),
})
export type FileRule = z.infer<typeof FileRule>

export const PolicySchema = z.strictObject({
  schema: z.literal('driftwatch.policy/v1').describe('The policy format: `driftwatch.policy/v1`.'),
  files: z
    .strictObject({
      include: z
        .array(Glob)
        .min(1)
        .describe(
          'What is watched: a path is recorded when it matches one of these globs (picomatch syntax) and none of `exclude`.',
        ),
      exclude: z
        .array(Glob)
        .default([])
        .describe('Never recorded, never descended into: what legitimately differs on every instance.'),
      oneFileSystem: z
        .boolean()
        .default(true)
        .describe('Do not cross into other mounted file systems below a walked directory.'),
      defaultAttributes: z
        .array(z.enum(FILE_ATTRIBUTES))
        .default(['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'target', 'caps'])
        .describe('The attributes recorded and compared for a path no rule names.'),
      defaultSeverity: z
        .enum(SEVERITIES)
        .default('medium')
        .describe('How much a change to a path no rule matches matters.'),
      rules: z
        .array(FileRule)
        .default([])
        .describe('Severities and attribute sets for paths by glob; the first match decides.'),
    })
    .describe('The files probe: which paths, which attributes, how severe.'),
  packages: z
    .strictObject({
      managers: z
        .array(z.enum(PACKAGE_MANAGERS))
        .default([...PACKAGE_MANAGERS])
        .describe('Package managers whose databases are read (each one only where its database exists).'),
      severity: z
        .enum(SEVERITIES)
        .default('high')
        .describe('A package added, removed, upgraded or left half-installed.'),
    })
    .prefault({})
    .describe('The packages probe.'),
  config: z
    .strictObject({
      namespaces: z
        .partialRecord(z.enum(CONFIG_NAMESPACES), z.enum(SEVERITIES))
        .default({
          sysctl: 'high',
          systemd: 'high',
          user: 'critical',
          group: 'high',
          sshd: 'critical',
          os: 'medium',
        })
        .describe('The namespaces fingerprinted, and how much a change in each matters.'),
      // Not sysctl or os: there a host has keys an image folder cannot know, such as running
      // kernel values, so only the manifest's keys are compared.
      complete: z
        .array(z.enum(CONFIG_NAMESPACES))
        .default(['systemd', 'user', 'group', 'sshd'])
        .describe(
          'Namespaces the image states in full: a key observed there that the manifest lacks is "added".',
        ),
      ignore: z
        .array(z.string().min(1))
        .default([])
        .describe(
          'Keys (globs) never compared: what differs per instance or between a bake machine and a host.',
        ),
    })
    .prefault({})
    .describe('The configuration probes: sysctl, systemd units, users, groups, sshd, os-release.'),
})
export type Policy = z.output<typeof PolicySchema>
