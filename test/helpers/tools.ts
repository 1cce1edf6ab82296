import { spawnSync } from 'node:child_process'

/**
 * Whether a command from Debian's packages is on the PATH. Tests that need it skip without
 * it, except under DRIFTWATCH_REQUIRE_INTEGRATION=1 (CI), where a missing tool fails the run.
 */
export function hasTool(command: string, aptPackage: string): boolean {
  const found = spawnSync('sh', ['-c', 'command -v "$0"', command]).status === 0
  if (!found && process.env.DRIFTWATCH_REQUIRE_INTEGRATION === '1') {
    throw new Error(
      `${command} is not installed: apt-get install ${aptPackage} (DRIFTWATCH_REQUIRE_INTEGRATION=1)`,
    )
  }
  return found
}
