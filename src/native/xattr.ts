import { createRequire } from 'node:module'

interface XattrBinding {
  /** fgetxattr: the value, or null when the file has no such attribute. */
  get(fd: number, name: string): Buffer | null
  /** flistxattr: attribute names. */
  list(fd: number): string[]
}

// Built by `npm ci` (node-gyp, binding.gyp at the package root); the same relative path
// holds from src/native/ (tests) and from dist/native/ (the built CLI).
const require = createRequire(import.meta.url)
export const xattr: XattrBinding = require('../../build/Release/driftwatch_xattr.node')
