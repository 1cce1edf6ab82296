import { z } from 'zod'

const Text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), { message: 'must not contain NUL characters' })

/**
 * What a host is, as its agent sees it: sent at enrolment and with reports, shown by
 * `fleet host`, handed to executors. Every field is optional: a fact the host cannot tell
 * (no DMI in a container, say) is left out rather than guessed.
 */
export const HostFactsSchema = z.strictObject({
  os: z
    .strictObject({
      /** os-release ID and VERSION_ID of the root checked, e.g. debian 12. */
      id: Text(64).optional(),
      version: Text(64).optional(),
      /** os-release PRETTY_NAME. */
      name: Text(256).optional(),
    })
    .optional(),
  kernel: Text(128).optional(),
  /** Node's name of the architecture: x64, arm64, … */
  arch: Text(32).optional(),
  cpu: z
    .strictObject({
      model: Text(256).optional(),
      cores: z.number().int().nonnegative().optional(),
    })
    .optional(),
  /** Total memory in bytes. */
  memoryBytes: z.number().int().nonnegative().optional(),
  /** From DMI: the cloud (aws, gcp, azure, …) and, where DMI tells it, the instance's id. */
  cloud: z
    .strictObject({
      provider: Text(64),
      instanceId: Text(256).optional(),
    })
    .optional(),
  /** The agent's own version. */
  agentVersion: Text(64).optional(),
})
export type HostFacts = z.infer<typeof HostFactsSchema>
