import { EXIT } from '../../errors.js'
import { generateKeys } from '../../manifest/signature.js'
import type { CommandOutput } from '../output.js'

export function keygen(options: { out: string }): CommandOutput {
  const keys = generateKeys(options.out)
  return {
    exitCode: EXIT.clean,
    json: keys,
    text: (style) =>
      `${style.green('wrote')} ${keys.privateKey} (private, 0600) and ${keys.publicKey}\nkey id ${keys.keyId}: sign with --sign ${keys.privateKey}, check with --key ${keys.publicKey}\n`,
  }
}
