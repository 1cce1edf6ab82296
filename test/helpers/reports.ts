import { randomUUID } from 'node:crypto'
import type { Severity } from '../../src/config/policy.js'
import type { DriftItem, Report } from '../../src/protocol/report.js'

export const DIGEST_A = `sha256:${'a'.repeat(64)}`
export const DIGEST_B = `sha256:${'b'.repeat(64)}`

/**
 * A realistic drift report as an agent sends it: a package installed by hand with its files
 * under it, edited configuration, a changed binary. `findings` items, worst first.
 */
export function makeReport(options: {
  hostId: string
  hostname?: string
  image?: { id: string; version: string; manifestDigest?: string }
  findings?: number
  severity?: Severity
  startedAt?: Date
  reportId?: string
}): Report {
  const findings = options.findings ?? 0
  const severity = options.severity ?? 'high'
  const drift: DriftItem[] = []
  for (let i = 0; i < findings; i++) drift.push(finding(i, severity))
  const counts = { critical: 0, high: 0, medium: 0, low: 0, info: 0 }
  for (const item of drift) counts[item.severity]++
  return {
    schema: 'driftwatch.report/v1',
    reportId: options.reportId ?? randomUUID(),
    host: {
      id: options.hostId,
      hostname: options.hostname ?? `host-${options.hostId}`,
      labels: { group: 'web' },
    },
    image: {
      id: options.image?.id ?? 'web-base',
      version: options.image?.version ?? '2026.11.27-1',
      manifestDigest: options.image?.manifestDigest ?? DIGEST_A,
    },
    scan: {
      mode: 'quick',
      startedAt: (options.startedAt ?? new Date()).toISOString(),
      durationMs: 812,
      files: 117_346,
      bytesHashed: 48_213_504,
      probes: [
        { name: 'files', ok: true, durationMs: 640 },
        { name: 'dpkg', ok: true, durationMs: 41 },
        { name: 'sysctl', ok: true, durationMs: 3 },
      ],
    },
    drift,
    summary: { total: drift.length, ...counts },
  }
}

function finding(i: number, severity: Severity): DriftItem {
  switch (i % 4) {
    case 0:
      return {
        kind: 'package',
        change: 'added',
        subject: `deb:tool${i}:amd64`,
        actual: { version: `8.${i}.0-2+deb12u1` },
        severity,
      }
    case 1:
      return {
        kind: 'file',
        change: 'added',
        subject: `/usr/bin/tool${i - 1}`,
        package: `deb:tool${i - 1}:amd64`,
        actual: { type: 'file', mode: '0755', uid: 0, gid: 0, size: 274_312, sha256: 'c'.repeat(64) },
        severity,
      }
    case 2:
      return {
        kind: 'file',
        change: 'modified',
        subject: `/etc/app/conf${i}.d/main.conf`,
        attributes: ['sha256', 'size'],
        expected: { size: 1_204, sha256: 'd'.repeat(64) },
        actual: { size: 1_388, sha256: 'e'.repeat(64) },
        severity,
      }
    default:
      return {
        kind: 'config',
        change: 'modified',
        subject: `sysctl:net.ipv4.conf.eth${i}.forwarding`,
        expected: '0',
        actual: '1',
        severity,
      }
  }
}
