import type { GroupedDrift } from '../protocol/api.js'
import type { DriftItem } from '../protocol/report.js'

/**
 * Drift as people read it: a file change that a package change of the same report explains
 * sits under that package (one `apt-get install` is one event), one that a configuration change
 * explains (`explainedBy`) under that item (a new user is one event, not also three files),
 * everything else is listed by kind. Pure; the order of the input is kept within each group.
 */
export function groupDrift(items: readonly DriftItem[]): GroupedDrift {
  const grouped: GroupedDrift = { packages: [], files: [], config: [] }
  const bySubject = new Map<string, { item: DriftItem; files: DriftItem[] }>()
  for (const item of items) {
    if (item.kind !== 'package') continue
    const entry = { item, files: [] }
    grouped.packages.push(entry)
    // Several items may share a subject (rpm keeps several kernels under one name): files go under the first.
    if (!bySubject.has(item.subject)) bySubject.set(item.subject, entry)
  }
  const byConfig = new Map<string, { item: DriftItem; files: DriftItem[] }>()
  for (const item of items) {
    if (item.kind !== 'config') continue
    const entry = { item, files: [] }
    grouped.config.push(entry)
    if (!byConfig.has(item.subject)) byConfig.set(item.subject, entry)
  }
  for (const item of items) {
    if (item.kind !== 'file') continue
    const owner =
      (item.package === undefined ? undefined : bySubject.get(item.package)) ??
      (item.explainedBy === undefined ? undefined : byConfig.get(item.explainedBy))
    if (owner) owner.files.push(item)
    else grouped.files.push(item)
  }
  return grouped
}
