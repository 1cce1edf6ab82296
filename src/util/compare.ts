/**
 * Orders strings by UTF-16 code unit, as `Array.prototype.sort` does by default and as the
 * canonical manifest is sorted: stable across locales, unlike `localeCompare`.
 */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
