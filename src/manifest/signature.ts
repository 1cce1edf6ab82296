import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { z } from 'zod'
import { DriftwatchError, errnoCode } from '../errors.js'
import { readBoundedFile } from '../util/bounded-read.js'

/** The largest key or signature file read: either is a few hundred bytes. */
export const KEY_MAX_BYTES = 64 << 10

export const SIGNATURE_SCHEMA = 'driftwatch.signature/v1'

/** A detached signature, kept next to the manifest as `FILE.sig`. */
export const SignatureSchema = z.strictObject({
  schema: z.literal(SIGNATURE_SCHEMA),
  algorithm: z.literal('ed25519'),
  /** First 16 hex digits of the sha256 of the public key (SPKI DER): which key signed. */
  keyId: z.string(),
  /** The manifest digest that was signed, `sha256:<hex>`. */
  digest: z.string(),
  signature: z.string(),
})
export type Signature = z.infer<typeof SignatureSchema>

export function signatureFileFor(manifestFile: string): string {
  return `${manifestFile}.sig`
}

/** Generates an ed25519 key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM). */
export function generateKeys(prefix: string): { privateKey: string; publicKey: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const files = { privateKey: `${prefix}.key`, publicKey: `${prefix}.pub` }
  try {
    writeFileSync(files.privateKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
      flag: 'wx',
    })
    writeFileSync(files.publicKey, publicKey.export({ type: 'spki', format: 'pem' }), {
      mode: 0o644,
      flag: 'wx',
    })
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') {
      throw new DriftwatchError('USAGE', `keygen: ${files.privateKey} or ${files.publicKey} already exists`, {
        hint: 'choose another --out prefix; an existing key is never overwritten',
      })
    }
    throw new DriftwatchError(
      'IO',
      `keygen: cannot write ${files.privateKey}: ${errnoCode(error) ?? String(error)}`,
      {
        hint: 'check that the directory exists and is writable',
      },
    )
  }
  return { ...files, keyId: keyIdOf(publicKey) }
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16)
}

export function loadPrivateKey(file: string): KeyObject {
  const key = loadKey(file, (pem) => createPrivateKey(pem))
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new DriftwatchError(
      'INPUT_INVALID',
      `${file}: not an ed25519 private key (${key.asymmetricKeyType})`,
      {
        hint: 'make one with `driftwatch keygen --out PREFIX`',
      },
    )
  }
  return key
}

export function loadPublicKey(file: string): KeyObject {
  const key = loadKey(file, (pem) => createPublicKey(pem))
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new DriftwatchError(
      'INPUT_INVALID',
      `${file}: not an ed25519 public key (${key.asymmetricKeyType})`,
      {
        hint: 'pass the PREFIX.pub that `driftwatch keygen` wrote',
      },
    )
  }
  return key
}

function loadKey(file: string, parse: (pem: string) => KeyObject): KeyObject {
  const pem = readBoundedFile(file, KEY_MAX_BYTES, { what: 'key', missingHint: 'check the path' }).toString(
    'utf8',
  )
  try {
    return parse(pem)
  } catch {
    throw new DriftwatchError('INPUT_INVALID', `${file}: not a PEM key`, {
      hint: 'pass a key written by `driftwatch keygen`',
    })
  }
}

export function signDigest(digest: string, privateKey: KeyObject): Signature {
  const publicKey = createPublicKey(privateKey)
  return {
    schema: SIGNATURE_SCHEMA,
    algorithm: 'ed25519',
    keyId: keyIdOf(publicKey),
    digest,
    signature: sign(null, Buffer.from(digest), privateKey).toString('base64'),
  }
}

/** Whether a signature is over this digest and verifies with this ed25519 public key. */
export function signatureVerifies(signature: Signature, digest: string, publicKey: KeyObject): boolean {
  if (signature.digest !== digest) return false
  return verify(null, Buffer.from(digest), publicKey, Buffer.from(signature.signature, 'base64'))
}

/** Checks a signature file against a manifest digest and a public key; throws INTEGRITY if it fails. */
export function verifySignatureFile(sigFile: string, digest: string, publicKey: KeyObject): Signature {
  let text: string
  try {
    text = readBoundedFile(sigFile, KEY_MAX_BYTES, {
      what: 'signature',
      missingHint: 'check the path',
    }).toString('utf8')
  } catch (error) {
    if (!(error instanceof DriftwatchError) || error.code === 'INPUT_INVALID') throw error
    const why = error.code === 'NOT_FOUND' ? 'no such file' : 'unreadable'
    throw new DriftwatchError('INTEGRITY', `${sigFile}: no signature (${why}), and a public key was given`, {
      hint: 'sign the manifest with `manifest capture --sign KEY`, or drop --key to accept unsigned manifests',
    })
  }
  let parsed: Signature
  try {
    parsed = SignatureSchema.parse(JSON.parse(text))
  } catch {
    throw new DriftwatchError('INTEGRITY', `${sigFile}: not a driftwatch signature`, {
      hint: 're-sign the manifest',
    })
  }
  if (parsed.digest !== digest) {
    throw new DriftwatchError(
      'INTEGRITY',
      `${sigFile}: signs ${parsed.digest}, but the manifest's digest is ${digest}`,
      {
        hint: "the manifest was changed after it was signed: use the image's original manifest",
      },
    )
  }
  const ok = verify(null, Buffer.from(digest), publicKey, Buffer.from(parsed.signature, 'base64'))
  if (!ok) {
    throw new DriftwatchError(
      'INTEGRITY',
      `${sigFile}: signature does not verify with key ${keyIdOf(publicKey)} (signed by ${parsed.keyId})`,
      {
        hint: "check that --key is the public key of the image's signing key",
      },
    )
  }
  return parsed
}
