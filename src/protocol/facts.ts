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
      id: Text(64).optional().describe('os-release ID of the root checked, e.g. `debian`.'),
      version: Text(64).optional().describe('os-release VERSION_ID, e.g. `12`.'),
      name: Text(256).optional().describe('os-release PRETTY_NAME.'),
    })
    .optional()
    .describe('The operating system, from the os-release of the root checked.'),
  kernel: Text(128).optional().describe('The running kernel release (uname -r).'),
  arch: Text(32).optional().describe("Node's name of the architecture: x64, arm64, …"),
  cpu: z
    .strictObject({
      model: Text(256).optional().describe('The CPU model name.'),
      cores: z.number().int().nonnegative().optional().describe('Logical CPUs.'),
    })
    .optional()
    .describe('The processor.'),
  memoryBytes: z.number().int().nonnegative().optional().describe('Total memory in bytes.'),
  cloud: z
    .strictObject({
      provider: Text(64).describe('The cloud: aws, gcp, azure, …'),
      instanceId: Text(256).optional().describe("The instance's id, where DMI tells it."),
    })
    .optional()
    .describe('From DMI: the cloud the host runs in.'),
  agentVersion: Text(64).optional().describe("The agent's own version."),
})
export type HostFacts = z.infer<typeof HostFactsSchema>
