import { z } from 'zod'

/*
 * The strings of the wire protocol. JSON can carry any sequence of UTF-16 code units, lone
 * surrogates included ("\ud800"), and no store keeps those as they are: PostgreSQL's jsonb
 * refuses them and a text parameter turns them into U+FFFD, as SQLite does. So every string is
 * well-formed Unicode, except file names, which may hold the one documented exception: bytes
 * that are not UTF-8 carried as PEP 383 lone surrogates U+DC80..U+DCFF (see util/pathname.ts).
 * Both stores keep reports as JSON text, where those are the escapes `\udcXX`, byte for byte.
 */

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
/** A lone surrogate that is not an escaped byte: a high one, or a low one outside DC80..DCFF. */
const LONE_NOT_BYTE =
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])(?:[\udc00-\udc7f]|[\udd00-\udfff])/

/** True when the string is well-formed Unicode: no lone surrogate. */
export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text)
}

/** True when the string is well-formed but for bytes escaped as PEP 383 does (U+DC80..U+DCFF). */
export function isPathText(text: string): boolean {
  return !LONE_NOT_BYTE.test(text)
}

/** The code unit that makes a string neither well-formed nor a PEP 383 path, as U+XXXX. */
export function strayCodeUnit(text: string): string | undefined {
  const match = LONE_NOT_BYTE.exec(text)
  return match ? `U+${match[0].charCodeAt(0).toString(16).toUpperCase()}` : undefined
}

const noNul = (s: string) => !s.includes('\u0000')

/** Text from the wire: bounded, well-formed Unicode, and never a NUL (PostgreSQL text cannot hold one). */
export const WireText = (max: number) =>
  z.string().max(max).refine(noNul, { message: 'must not contain NUL characters' }).refine(isWellFormedText, {
    message: 'must be well-formed Unicode (a lone surrogate is allowed in file names only)',
  })

/** A path or a text that may name one: bytes that are not UTF-8 as PEP 383 lone surrogates U+DC80..U+DCFF. */
export const PathText = (max: number) =>
  z.string().max(max).refine(noNul, { message: 'must not contain NUL characters' }).refine(isPathText, {
    message: 'must be well-formed Unicode, with bytes that are not UTF-8 as U+DC80..U+DCFF (PEP 383)',
  })

/** True when the text holds a C0 or C1 control character or DEL. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true
  }
  return false
}

/**
 * A name (a hostname, an image id or version, a probe or package name): WireText without
 * control characters, which no such name holds and a terminal would act on.
 */
export const NameText = (max: number) =>
  WireText(max).refine((s) => !hasControlCharacter(s), { message: 'must not contain control characters' })
