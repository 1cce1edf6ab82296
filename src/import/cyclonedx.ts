import { z } from 'zod'
import { formatPath } from '../config/load.js'
import { DriftwatchError } from '../errors.js'
import { jsonErrorPlace } from '../manifest/io.js'
import { type PackageManager, type PackageRecord, packageSubject } from '../manifest/schema.js'
import { count, type DeclaredContent, emptyContent, invalid, shown, sortContent } from './declared.js'
import { packageFromPurl, parsePurl } from './purl.js'

/** The CycloneDX versions read: their JSON states components, types and purls alike. */
export const CYCLONEDX_VERSIONS = ['1.4', '1.5', '1.6'] as const

interface Component {
  type: string
  name: string
  purl?: string | undefined
  components?: Component[] | undefined
}
const ComponentSchema: z.ZodType<Component> = z.looseObject({
  type: z.string(),
  name: z.string(),
  purl: z.string().optional(),
  get components() {
    return z.array(ComponentSchema).optional()
  },
})
const BomSchema = z.looseObject({
  bomFormat: z.literal('CycloneDX', { error: 'expected "CycloneDX"' }),
  specVersion: z.enum(CYCLONEDX_VERSIONS, {
    error: (issue) => `expected one of ${CYCLONEDX_VERSIONS.join(', ')}, got ${shown(issue.input)}`,
  }),
  components: z.array(ComponentSchema).default([]),
})

/** Component types that are packages; the rest (operating-system, file, container, …) are not. */
const PACKAGE_COMPONENTS = new Set(['library', 'application'])
/** purl types by package manager; syft before 0.60 wrote `pkg:alpine/…` for apk packages. */
const PURL_MANAGERS: Record<string, PackageManager> = { deb: 'deb', rpm: 'rpm', apk: 'apk', alpine: 'apk' }

/**
 * Reads a CycloneDX JSON SBOM (1.4 to 1.6, as `syft -o cyclonedx-json` or Trivy write it) into
 * declared packages: every library or application component with a deb, rpm or apk purl, at
 * the purl's version and arch (ANY_ARCH when the purl has none). Other components are skipped
 * and counted by reason.
 */
export function fromCycloneDx(jsonText: string, source: string): DeclaredContent {
  let parsed: unknown
  try {
    parsed = JSON.parse(jsonText)
  } catch (error) {
    throw new DriftwatchError('INPUT_INVALID', `${source}: ${jsonErrorPlace(jsonText, error)}`, {
      hint: jsonText.trimStart().startsWith('<')
        ? 'this looks like CycloneDX XML: export JSON instead (syft -o cyclonedx-json)'
        : 'export the SBOM as CycloneDX JSON (syft -o cyclonedx-json)',
    })
  }
  const result = BomSchema.safeParse(parsed)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw invalid(
      source,
      issue?.path.length ? formatPath(issue.path) : '(top level)',
      issue?.message ?? 'invalid',
      {
        hint: 'expected a CycloneDX JSON SBOM with a components list (syft -o cyclonedx-json)',
      },
    )
  }
  const content = emptyContent()
  const added = new Set<string>()
  const visit = (components: readonly Component[]) => {
    for (const component of components) {
      if (component.components) visit(component.components)
      const record = packageOfComponent(component)
      if (typeof record === 'string') {
        count(content.skipped, record)
        continue
      }
      const identity = `${packageSubject(record)} ${record.version}`
      // Several catalogers may find one package; it is one package.
      if (added.has(identity)) continue
      added.add(identity)
      content.packages.push(record)
    }
  }
  visit(result.data.components)
  return sortContent(content)
}

/** The package a component is, or why it is skipped. */
function packageOfComponent(component: Component): PackageRecord | string {
  if (!PACKAGE_COMPONENTS.has(component.type)) return `type ${component.type}`
  if (component.purl === undefined) return 'no purl'
  const purl = parsePurl(component.purl)
  if (!purl) return 'not a package URL'
  const manager = PURL_MANAGERS[purl.type]
  return manager ? packageFromPurl(manager, purl) : `pkg:${purl.type}`
}
