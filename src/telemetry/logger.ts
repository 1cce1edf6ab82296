import { type Logger, pino } from 'pino'

/**
 * JSON logs on stdout (journald keeps them). Anything that could hold a secret is redacted
 * by path, whatever code logs it: tokens, secrets and Authorization headers.
 */
export function createLogger(options: {
  name: string
  level: string
  destination?: NodeJS.WritableStream
}): Logger {
  return pino(
    {
      name: options.name,
      level: options.level,
      redact: {
        paths: [
          'req.headers.authorization',
          'headers.authorization',
          'token',
          'secret',
          '*.token',
          '*.secret',
          'enrollSecret',
          'adminTokens',
        ],
        censor: '[redacted]',
      },
    },
    options.destination ?? process.stdout,
  )
}
