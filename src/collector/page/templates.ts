import { HOST_STATES, type HostState } from '../../fleet/states.js'
import type { GroupedDrift, HostDetailView, HostView, ReplacementQueueView } from '../../protocol/api.js'
import type { DriftItem } from '../../protocol/report.js'
import type { AlertView } from './data.js'
import { html, type SafeHtml } from './html.js'

/** Where each state is listed: what needs a person first. A Record, so a new state cannot be forgotten. */
const STATE_RANK: Record<HostState, number> = {
  snowflake: 0,
  replacing: 1,
  'replacement-scheduled': 2,
  stale: 3,
  pending: 4,
  drifted: 5,
  compliant: 6,
  replaced: 7,
}
const STATE_ORDER = [...HOST_STATES].sort((a, b) => STATE_RANK[a] - STATE_RANK[b])
const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const

export interface LayoutOptions {
  title: string
  /** Present when an operator is signed in: the header then offers to sign out. */
  csrfToken?: string
  body: SafeHtml
}

/** The page around every view: landmarks, a skip link, one stylesheet, no script at all. */
export function layout({ title, csrfToken, body }: LayoutOptions): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · driftwatch</title>
<link rel="stylesheet" href="/static/page.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<p class="brand"><a href="/">driftwatch</a></p>
${
  csrfToken
    ? html`<form class="logout" method="post" action="/logout">
<input type="hidden" name="csrf" value="${csrfToken}">
<button type="submit">Sign out</button>
</form>`
    : null
}
</header>
<main id="main">
${body}
</main>
<footer class="bottom"><p>driftwatch fleet page · no script, no third party</p></footer>
</body>
</html>
`.text
}

export function loginView(options: { csrfToken: string; error?: string }): SafeHtml {
  return html`<h1>Sign in</h1>
<p>Sign in with one of the collector's admin tokens (<code>adminTokens</code> in collector.yaml).</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : null}
<form class="login" method="post" action="/login">
<input type="hidden" name="csrf" value="${options.csrfToken}">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required spellcheck="false">
<button type="submit">Sign in</button>
</form>`
}

/** The sign-in form refused for a while: when to come back, in the page's own time format. */
export function tooManySignInsView(retryAt: Date, seconds: number): SafeHtml {
  return html`<h1>Too many sign-ins</h1>
<p class="error" role="alert">Too many failed sign-ins from this address.</p>
<p>Try again after <time datetime="${retryAt.toISOString()}">${shortTime(retryAt.toISOString(), true)}</time> (in ${seconds} s).</p>
<p><a href="/login">Back to sign in</a></p>`
}

/** A refusal or failure as a page: what went wrong, and where to go on. */
export function problemView(title: string, message: string, hint?: string): SafeHtml {
  return html`<h1>${title}</h1>
<p class="error" role="alert">${message}</p>
${hint ? html`<p>${hint}</p>` : null}
<p><a href="/">Back to the fleet</a></p>`
}

/** Hosts listed per state at most: a big fleet's page stays small; the CLI lists the rest. */
export const HOSTS_PER_STATE = 200

export function fleetView(input: {
  hosts: readonly HostView[]
  state: HostState | undefined
  queue: ReplacementQueueView | undefined
  alerts: readonly AlertView[] | undefined
}): SafeHtml {
  const byState = new Map<HostState, HostView[]>()
  for (const host of input.hosts) byState.set(host.state, [...(byState.get(host.state) ?? []), host])
  const listed = (input.state ? [input.state] : STATE_ORDER).map((state) => {
    const hosts = byState.get(state) ?? []
    return {
      state,
      shown: mostUrgentFirst(hosts).slice(0, HOSTS_PER_STATE),
      more: Math.max(0, hosts.length - HOSTS_PER_STATE),
    }
  })
  const shown = listed.flatMap((l) => l.shown)
  const stateLinks = STATE_ORDER.map(
    (state) =>
      html`<li><a class="state state-${state}" href="/?state=${state}"${input.state === state ? html` aria-current="page"` : null}><span class="count">${byState.get(state)?.length ?? 0}</span> ${state}</a></li>`,
  )
  return html`<h1>Fleet</h1>
<section aria-labelledby="states-title">
<h2 id="states-title">Hosts by state</h2>
<nav aria-label="Hosts by state">
<ul class="states">
<li><a class="state" href="/"${input.state === undefined ? html` aria-current="page"` : null}><span class="count">${input.hosts.length}</span> all</a></li>
${stateLinks}
</ul>
</nav>
</section>
<section aria-labelledby="hosts-title">
<h2 id="hosts-title">${input.state ? `Hosts: ${input.state}` : 'Hosts'}</h2>
${
  shown.length === 0
    ? html`<p>No hosts${input.state ? ` in state ${input.state}` : ''}.</p>`
    : html`<div class="scroll" role="region" aria-labelledby="hosts-title" tabindex="0">
<table class="hosts">
<caption>${shown.length} of ${input.hosts.length} hosts, the ones that need a person first</caption>
<thead><tr><th scope="col">Host</th><th scope="col">State</th><th scope="col">Why</th><th scope="col">Drift</th><th scope="col" class="wide">Image</th><th scope="col" class="wide">Last seen</th></tr></thead>
<tbody>
${shown.map(hostRow)}
</tbody>
</table>
</div>`
}
${listed
  .filter((l) => l.more > 0)
  .map(
    (l) =>
      html`<p class="more">${l.more} more ${l.state} — use <code>driftwatch fleet hosts --state ${l.state}</code></p>`,
  )}
</section>
${replacementSection(input.queue)}
${alertSection(input.alerts)}`
}

/** Most critical drift first, then most drift, then by name. */
function mostUrgentFirst(hosts: readonly HostView[]): HostView[] {
  return [...hosts].sort(
    (a, b) =>
      (b.summary?.critical ?? 0) - (a.summary?.critical ?? 0) ||
      (b.summary?.total ?? 0) - (a.summary?.total ?? 0) ||
      a.hostname.localeCompare(b.hostname),
  )
}

function hostRow(host: HostView): SafeHtml {
  return html`<tr>
<th scope="row"><a href="/hosts/${encodeURIComponent(host.id)}">${host.hostname || host.id}</a><span class="id">${host.id}</span></th>
<td>${stateBadge(host.state)}</td>
<td>${host.stateReasons.length ? host.stateReasons.join('; ') : '—'}</td>
<td>${summaryText(host)}</td>
<td class="wide">${host.image ? `${host.image.id}@${host.image.version}` : '—'}</td>
<td class="wide"><time datetime="${host.lastSeenAt}">${shortTime(host.lastSeenAt)}</time></td>
</tr>`
}

function summaryText(host: HostView): SafeHtml {
  const summary = host.summary
  if (!summary) return html`no report yet`
  if (summary.total === 0) return html`none`
  const parts = SEVERITIES.filter((s) => summary[s] > 0).map(
    (s) => html`<span class="sev sev-${s}">${summary[s]} ${s}</span> `,
  )
  return html`${parts}`
}

function stateBadge(state: HostState): SafeHtml {
  return html`<span class="state-badge state-${state}">${state}</span>`
}

function replacementSection(queue: ReplacementQueueView | undefined): SafeHtml {
  const body = !queue
    ? html`<p>No replacements: the replacement scheduler is not connected to this page.</p>`
    : html`${queue.dryRun ? html`<p class="note">Dry run: replacements are planned and shown, never dispatched.</p>` : null}
${windowLine(queue.window)}
${
  queue.groups.length
    ? html`<div class="scroll" role="region" aria-label="Replacement budgets" tabindex="0"><table class="budgets">
<caption>Budgets of the groups with open replacements</caption>
<thead><tr><th scope="col">Group</th><th scope="col">Max concurrent</th><th scope="col">In flight</th><th scope="col">Budget left</th><th scope="col" class="wide">Min healthy</th><th scope="col" class="wide">Hosts in service</th></tr></thead>
<tbody>${queue.groups.map(
        (g) =>
          html`<tr><th scope="row">${g.group || '(no group)'}</th><td>${g.maxConcurrent}</td><td>${g.inFlight}</td><td>${g.budgetLeft}</td><td class="wide">${g.minHealthyPercent}%</td><td class="wide">${g.inService} of ${g.hosts}</td></tr>`,
      )}</tbody></table></div>`
    : null
}
${
  queue.replacements.length === 0
    ? html`<p>No replacements.</p>`
    : html`<div class="scroll" role="region" aria-label="Replacement queue" tabindex="0"><table class="queue">
<caption>Open replacements, oldest first, then the latest finished</caption>
<thead><tr><th scope="col">Host</th><th scope="col">Group</th><th scope="col">State</th><th scope="col">Why</th><th scope="col" class="wide">Since</th></tr></thead>
<tbody>${queue.replacements.map(
        (r) =>
          html`<tr><th scope="row"><a href="/hosts/${encodeURIComponent(r.hostId)}">${r.hostname || r.hostId}</a></th><td>${r.group}</td><td>${r.state}${r.waitingFor ? ` (${r.waitingFor})` : ''}</td><td>${r.reason}</td><td class="wide"><time datetime="${r.createdAt}">${shortTime(r.createdAt)}</time></td></tr>`,
      )}</tbody></table></div>`
}`
  return html`<section aria-labelledby="replacements-title">
<h2 id="replacements-title">Replacement queue</h2>
${body}
</section>`
}

/** Whether replacements may be dispatched now, and if not, when they may next. */
function windowLine(window: ReplacementQueueView['window']): SafeHtml {
  const when = window.open
    ? window.openUntil
      ? html`open now, until <time datetime="${window.openUntil}">${shortTime(window.openUntil)}</time>`
      : html`open`
    : window.nextOpening
      ? html`closed; next window opens <time datetime="${window.nextOpening}">${shortTime(window.nextOpening)}</time>`
      : html`closed; none opens within 8 days`
  return html`<p class="windows">Maintenance windows: ${when} · ${window.windows}</p>`
}

function alertSection(alerts: readonly AlertView[] | undefined): SafeHtml {
  return html`<section aria-labelledby="alerts-title">
<h2 id="alerts-title">Recent alerts</h2>
${
  !alerts || alerts.length === 0
    ? html`<p>No alerts${alerts ? '' : ': no notifier is connected to this page'}.</p>`
    : html`<ul class="alerts">${alerts.map(
        (a) =>
          html`<li><time datetime="${a.at}">${shortTime(a.at)}</time> <span class="sev sev-${ALERT_SEVERITY_CLASS[a.severity] ?? 'info'}">${a.severity}</span> <strong>${a.event}</strong>: ${a.summary}${a.hostname ? ` (${a.hostname})` : ''} <span class="via">to ${a.notifier}, ${a.delivery}</span></li>`,
      )}</ul>`
}
</section>`
}

/** Alerts say critical or warning; the page's colours are the drift severities'. */
const ALERT_SEVERITY_CLASS: Record<string, string> = { critical: 'critical', warning: 'medium' }

export function hostDetailPage(detail: HostDetailView): SafeHtml {
  const { host } = detail
  const labels = Object.entries(host.labels)
  return html`<p class="crumbs"><a href="/">Fleet</a> › ${host.hostname || host.id}</p>
<h1>${host.hostname || host.id} ${stateBadge(host.state)}</h1>
<dl class="facts">
<dt>Host id</dt><dd><code>${host.id}</code></dd>
<dt>State</dt><dd>${host.state} since <time datetime="${host.stateSince}">${shortTime(host.stateSince)}</time>${host.stateReasons.length ? html`: ${host.stateReasons.join('; ')}` : null}</dd>
<dt>Image</dt><dd>${host.image ? html`${host.image.id}@${host.image.version} <code class="digest">${host.image.manifestDigest}</code>` : 'no report yet'}</dd>
<dt>Labels</dt><dd>${labels.length ? labels.map(([k, v]) => html`<code class="label">${k}=${v}</code> `) : 'none'}</dd>
<dt>Last seen</dt><dd><time datetime="${host.lastSeenAt}">${shortTime(host.lastSeenAt)}</time></dd>
${host.driftSince ? html`<dt>Drifted since</dt><dd><time datetime="${host.driftSince}">${shortTime(host.driftSince)}</time></dd>` : null}
</dl>
<section aria-labelledby="drift-title">
<h2 id="drift-title">Drift</h2>
${driftSections(detail)}
</section>
<section aria-labelledby="history-title">
<h2 id="history-title">State history</h2>
${
  detail.states.length === 0
    ? html`<p>No transitions yet.</p>`
    : html`<ol class="history">${[...detail.states]
        .reverse()
        .map(
          (t) =>
            html`<li><time datetime="${t.at}">${shortTime(t.at)}</time> ${t.from ?? 'enrolled'} → <strong>${t.to}</strong>${t.reasons.length ? `: ${t.reasons.join('; ')}` : ''}</li>`,
        )}</ol>`
}
</section>`
}

function driftSections(detail: HostDetailView): SafeHtml {
  const drift = detail.drift
  if (!drift) return html`<p>No report yet.</p>`
  if (drift.packages.length + drift.files.length + drift.config.length === 0) {
    return html`<p>No drift in the latest report${detail.latestReport ? html` (${detail.latestReport.mode} scan of <time datetime="${detail.latestReport.startedAt}">${shortTime(detail.latestReport.startedAt)}</time>)` : null}.</p>`
  }
  return html`${detail.latestReport ? html`<p>From the ${detail.latestReport.mode} scan of <time datetime="${detail.latestReport.startedAt}">${shortTime(detail.latestReport.startedAt)}</time>.</p>` : null}
${packageSection(drift)}
${drift.files.length ? html`<h3>Files</h3><ul class="drift">${drift.files.map((item) => html`<li>${itemLine(item)}</li>`)}</ul>` : null}
${configSection(drift.config)}`
}

function packageSection(drift: GroupedDrift): SafeHtml | null {
  if (drift.packages.length === 0) return null
  return html`<h3>Packages</h3><ul class="drift">${drift.packages.map(
    ({ item, files }) =>
      html`<li>${itemLine(item)}${files.length ? html`<ul>${files.map((file) => html`<li>${itemLine(file, false)}</li>`)}</ul>` : null}</li>`,
  )}</ul>`
}

/**
 * Configuration by namespace (sysctl, systemd, user, sshd, …), each under its own heading, with
 * the file changes a configuration item explains (`explainedBy`) under it.
 */
function configSection(entries: GroupedDrift['config']): SafeHtml | null {
  if (entries.length === 0) return null
  const byNamespace = new Map<string, GroupedDrift['config']>()
  for (const entry of entries) {
    const subject = entry.item.subject
    const namespace = subject.includes(':') ? subject.slice(0, subject.indexOf(':')) : 'other'
    byNamespace.set(namespace, [...(byNamespace.get(namespace) ?? []), entry])
  }
  return html`<h3>Configuration</h3>${[...byNamespace].map(
    ([namespace, group]) =>
      html`<h4>${namespace}</h4><ul class="drift">${group.map(
        ({ item, files }) =>
          html`<li>${itemLine(item)}${files.length ? html`<ul>${files.map((file) => html`<li>${itemLine(file)}</li>`)}</ul>` : null}</li>`,
      )}</ul>`,
  )}`
}

/** `owner`: name the package of a file changed behind its back (not under its own package's event). */
function itemLine(item: DriftItem, owner = true): SafeHtml {
  const change = item.change === 'modified' && item.attributes?.[0] === 'type' ? 'type changed' : item.change
  return html`<span class="sev sev-${item.severity}">${item.severity}</span> <span class="change">${change}</span> <code class="subject">${item.subject}</code> <span class="detail">${itemDetail(item)}</span>${owner && item.kind === 'file' && item.package ? html` <span class="owner">[${item.package}]</span>` : null}`
}

/** The change in a few words, as the text report says it. */
function itemDetail(item: DriftItem): string {
  const expected = (item.expected ?? {}) as Record<string, unknown>
  const actual = (item.actual ?? {}) as Record<string, unknown>
  if (item.kind === 'package') {
    if (item.change === 'added') return `${String(actual.version ?? '')} installed`
    if (item.change === 'removed') return `${String(expected.version ?? '')} gone`
    return `${String(expected.version ?? '?')} → ${String(actual.version ?? '?')}`
  }
  if (item.kind === 'config') {
    if (item.change === 'added') return short(item.actual)
    if (item.change === 'removed') return `was ${short(item.expected)}`
    return `${short(item.expected)} → ${short(item.actual)}`
  }
  if (item.change === 'added' && typeof actual.target === 'string') return `→ ${actual.target}`
  if (item.change !== 'modified') return typeof actual.mode === 'string' ? `(${actual.mode})` : ''
  return (item.attributes ?? [])
    .map((attribute) =>
      attribute === 'sha256'
        ? 'content'
        : `${attribute} ${short(expected[attribute])} → ${short(actual[attribute])}`,
    )
    .join(', ')
}

function short(value: unknown): string {
  if (value === null || value === undefined) return 'none'
  if (typeof value === 'string') return value
  return JSON.stringify(value)
}

/** `2026-11-27 12:00 UTC` (with seconds: `12:00:05`): the same on every browser, no script needed. */
function shortTime(iso: string, seconds = false): string {
  const at = new Date(iso)
  if (Number.isNaN(at.getTime())) return iso
  return `${at
    .toISOString()
    .slice(0, seconds ? 19 : 16)
    .replace('T', ' ')} UTC`
}
