/**
 * Stable codes for errors a user can act on. Bugs stay plain `Error`s; these carry a
 * message that names the place and a hint that says how to fix it.
 */
export type ErrorCode =
  | 'USAGE' // bad flags or arguments
  | 'CONFIG_INVALID' // a policy or config file is wrong
  | 'INPUT_INVALID' // a manifest, cache or other input cannot be read as what it claims to be
  | 'NOT_FOUND' // a root, file or key that was named does not exist
  | 'INTEGRITY' // a manifest's digest or signature does not match
  | 'IO' // the system refused an operation we need (write the output, read a key)
  | 'UNAUTHENTICATED' // a request without a valid token or secret
  | 'FORBIDDEN' // a valid token that may not do this (a host token on an admin route, another host's report)
  | 'CONFLICT' // the request contradicts what is stored (a reportId another host already used)
  | 'PAYLOAD_TOO_LARGE' // a request body over the configured limit, before or after gzip
  | 'UNSUPPORTED_MEDIA_TYPE' // a request body that is not JSON, or an unknown content encoding

export class DriftwatchError extends Error {
  readonly code: ErrorCode
  readonly hint: string | undefined

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'DriftwatchError'
    this.code = code
    this.hint = options.hint
  }
}

/**
 * Exit codes of the CLI contract: 0 clean, 1 drift, 2 bad usage/config/input, 3 integrity failure,
 * 4 (`agent --once`) the report was not delivered and stays in the spool.
 */
export const EXIT = { clean: 0, drift: 1, usage: 2, integrity: 3, notDelivered: 4, internal: 70 } as const

/** The one place where error codes become exit codes. */
export function exitCodeFor(error: unknown): number {
  if (!(error instanceof DriftwatchError)) return EXIT.internal
  return error.code === 'INTEGRITY' ? EXIT.integrity : EXIT.usage
}

/** The node error code (`ENOENT`, `EACCES`, …) of a system error, or undefined. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code
  }
  return undefined
}

/** A system error in a few words for a report: "permission denied", "EIO", … */
export function describeSystemError(error: unknown): string {
  const code = errnoCode(error)
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  return code ?? (error instanceof Error ? error.message : String(error))
}
