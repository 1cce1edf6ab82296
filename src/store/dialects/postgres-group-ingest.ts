import { CompiledQuery, type Selectable, type Transaction } from 'kysely'
import type { HostRecord } from '../../fleet/states.js'
import { foldReport, type Images, type Ingest, type IngestResult, imageKey, reportTimes } from '../fold.js'
import { type JudgedRow, toDate, toHost, toImage } from '../rows.js'
import type { Database, ImagesTable } from '../schema.js'

/**
 * A group of reports on PostgreSQL in two round trips, whatever its size: one locks the
 * group's hosts (in id order) and reads them with the already-stored report ids and the
 * images they need; the reports are then folded in memory, in order, with the fold the
 * one-at-a-time ingest uses (fold.ts); one statement writes every report, host, transition
 * and prune. Round trips, not statements, are what a report costs on PostgreSQL. Anything
 * unexpected (an unknown host, a report id another collector stored meanwhile) throws, and
 * the group commit runs the group again one report at a time.
 */
export async function ingestGroup(
  trx: Transaction<Database>,
  group: readonly Ingest[],
): Promise<IngestResult[]> {
  const read = await readGroup(trx, group)
  const folded = foldGroup(read, group)
  if (folded.reports.length > 0) await writeGroup(trx, read.hosts, folded)
  return folded.results
}

/** A host of the group as the group's reports leave it. */
interface GroupHost {
  host: HostRecord
  tokenHash: string
  latestScan: Date | null
  /** The latest report's body, when one of the group's reports became the latest. */
  latestReport: string | null
  changed: boolean
  newReports: number
  historyLimit: number
}

interface GroupRead {
  hosts: Map<string, GroupHost>
  /** Report ids already stored, and the host each belongs to. */
  owners: Map<string, string>
  images: Images
}

async function readGroup(trx: Transaction<Database>, group: readonly Ingest[]): Promise<GroupRead> {
  const hostIds = [...new Set(group.map((g) => g.input.hostId))]
  const images = group.map((g) => g.input.report.image)
  const { rows } = await trx.executeQuery<JudgedRow & { dups: string; imgs: string }>(
    CompiledQuery.raw(GROUP_READ_SQL, [
      hostIds,
      group.map((g) => g.input.report.reportId),
      images.map((i) => i.id),
      images.map((i) => i.version),
    ]),
  )
  if (rows.length !== hostIds.length) throw new Error('group: a host is not enrolled')
  const owners = new Map((JSON.parse(rows[0]?.dups ?? '[]') as [string, string][]).map(([r, h]) => [r, h]))
  const registered = (JSON.parse(rows[0]?.imgs ?? '[]') as Selectable<ImagesTable>[]).map(toImage)
  const hosts = rows.map((row): [string, GroupHost] => [
    row.id,
    {
      host: toHost(row),
      tokenHash: row.token_hash,
      latestScan: row.latest_scan_started_at === null ? null : toDate(row.latest_scan_started_at),
      latestReport: null,
      changed: false,
      newReports: 0,
      historyLimit: 1,
    },
  ])
  return {
    hosts: new Map(hosts),
    owners,
    images: new Map(registered.map((i) => [imageKey(i.id, i.version), i])),
  }
}

/** The group's reports folded into its hosts, in order; what is to be written, as jsonb records. */
function foldGroup({ hosts, owners, images }: GroupRead, group: readonly Ingest[]) {
  const results: IngestResult[] = []
  const reports: Record<string, unknown>[] = []
  const transitions: Record<string, unknown>[] = []
  for (const { input, judge } of group) {
    const { hostId, report, receivedAt } = input
    const state = hosts.get(hostId)
    if (!state) throw new Error(`group: host ${hostId} is not enrolled`)
    // A revoked token: run one at a time, where it fails alone.
    if (input.tokenHash !== undefined && state.tokenHash !== input.tokenHash)
      throw new Error(`group: host ${hostId} has a new token`)
    const owner = owners.get(report.reportId)
    if (owner !== undefined) {
      results.push({ duplicate: true, ownerId: owner, host: state.host })
      continue
    }
    owners.set(report.reportId, hostId)
    const times = reportTimes(report, receivedAt)
    const before = state.host
    const { isLatest, host } = foldReport(before, state.latestScan, report, times, judge, images)
    if (isLatest) {
      state.latestScan = times.orderedAt
      state.latestReport = JSON.stringify(report)
    }
    state.host = host
    state.changed = true
    state.newReports++
    state.historyLimit = Math.max(1, Math.floor(input.historyLimit))
    reports.push({
      report_id: report.reportId,
      host_id: hostId,
      received_at: receivedAt.toISOString(),
      scan_started_at: times.scanStartedAt.toISOString(),
      mode: report.scan.mode,
      manifest_digest: report.image.manifestDigest,
      summary: JSON.stringify(report.summary),
    })
    if (host.state !== before.state) {
      transitions.push({
        ord: transitions.length,
        host_id: hostId,
        from_state: before.state,
        to_state: host.state,
        reasons: JSON.stringify(host.stateReasons),
        at: host.stateSince.toISOString(),
      })
    }
    results.push({ duplicate: false, ownerId: hostId, host })
  }
  return { results, reports, transitions }
}

async function writeGroup(
  trx: Transaction<Database>,
  hosts: Map<string, GroupHost>,
  { reports, transitions }: ReturnType<typeof foldGroup>,
): Promise<void> {
  const changed = [...hosts.values()].filter((s) => s.changed)
  const iso = (date: Date | null) => date?.toISOString() ?? null
  const updates = changed.map(({ host, latestScan, latestReport }) => ({
    id: host.id,
    last_seen_at: iso(host.lastSeenAt),
    last_report_at: iso(host.lastReportAt),
    state: host.state,
    state_reasons: JSON.stringify(host.stateReasons),
    state_since: iso(host.stateSince),
    image_id: host.imageId,
    image_version: host.imageVersion,
    manifest_digest: host.manifestDigest,
    summary: host.summary === null ? null : JSON.stringify(host.summary),
    latest_report_id: host.latestReportId,
    latest_scan_started_at: iso(latestScan),
    latest_report: latestReport,
    drift_since: iso(host.driftSince),
  }))
  // The prune sees the table as it was before the statement: the new reports are not in it.
  const prunes = changed.map((s) => ({
    host_id: s.host.id,
    keep: Math.max(0, s.historyLimit - s.newReports),
  }))
  const { rows: written } = await trx.executeQuery<{ stored: number }>(
    CompiledQuery.raw(GROUP_WRITE_SQL, [
      JSON.stringify(reports),
      JSON.stringify(updates),
      JSON.stringify(transitions),
      JSON.stringify(prunes),
    ]),
  )
  if (written[0]?.stored !== reports.length) throw new Error('group: a report id was stored meanwhile')
}

/** Locks a group's hosts in id order; with them, the report ids already stored and the images the group needs. */
const GROUP_READ_SQL = `
select h.id, h.hostname, h.labels, h.token_hash, h.image_id, h.image_version, h.manifest_digest, h.state,
       h.state_reasons, h.state_since, h.enrolled_at, h.last_seen_at, h.last_report_at,
       h.last_heartbeat_at, h.drift_since, h.summary, h.latest_report_id, h.latest_scan_started_at,
       (select coalesce(json_agg(json_build_array(r.report_id, r.host_id)), '[]')
          from reports r where r.report_id = any($2::text[]))::text as dups,
       (select coalesce(json_agg(i), '[]') from images i
         where (i.id, i.version) in (select * from unnest($3::text[], $4::text[]))
            or (i.id, i.version) in (select image_id, image_version from hosts where id = any($1::text[])))::text as imgs
  from hosts h
 where h.id = any($1::text[])
 order by h.id
   for update of h`

/** Writes a folded group: its reports, the hosts' new facts and states, the transitions, the prunes. */
const GROUP_WRITE_SQL = `
with stored as (
  insert into reports (report_id, host_id, received_at, scan_started_at, mode, manifest_digest, summary)
  select r.report_id, r.host_id, r.received_at, r.scan_started_at, r.mode, r.manifest_digest, r.summary
    from jsonb_to_recordset($1::jsonb) as r(report_id text, host_id text, received_at timestamptz,
         scan_started_at timestamptz, mode text, manifest_digest text, summary text)
  on conflict (report_id) do nothing
  returning report_id
), updated as (
  update hosts set
    last_seen_at = u.last_seen_at, last_report_at = u.last_report_at, state = u.state,
    state_reasons = u.state_reasons, state_since = u.state_since, image_id = u.image_id,
    image_version = u.image_version, manifest_digest = u.manifest_digest, summary = u.summary,
    latest_report_id = u.latest_report_id, latest_scan_started_at = u.latest_scan_started_at,
    latest_report = coalesce(u.latest_report, hosts.latest_report), drift_since = u.drift_since
    from jsonb_to_recordset($2::jsonb) as u(id text, last_seen_at timestamptz, last_report_at timestamptz,
         state text, state_reasons text, state_since timestamptz, image_id text, image_version text,
         manifest_digest text, summary text, latest_report_id text, latest_scan_started_at timestamptz,
         latest_report text, drift_since timestamptz)
   where hosts.id = u.id
  returning hosts.id
), transitions as (
  insert into state_transitions (host_id, from_state, to_state, reasons, at)
  select t.host_id, t.from_state, t.to_state, t.reasons, t.at
    from jsonb_to_recordset($3::jsonb) as t(ord int, host_id text, from_state text, to_state text,
         reasons text, at timestamptz)
   order by t.ord
  returning seq
), pruned as (
  delete from reports r
   using jsonb_to_recordset($4::jsonb) as p(host_id text, keep int)
   where r.host_id = p.host_id
     and r.seq <= (select r2.seq from reports r2 where r2.host_id = p.host_id
                    order by r2.seq desc limit 1 offset p.keep)
  returning r.seq
)
select (select count(*) from stored)::int as stored`
