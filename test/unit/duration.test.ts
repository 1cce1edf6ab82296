import { expect, test } from 'vitest'
import { parseDuration } from '../../src/config/duration.js'

test.each([
  { text: '90s', ms: 90_000 },
  { text: '15m', ms: 900_000 },
  { text: '250ms', ms: 250 },
  { text: '2h', ms: 7_200_000 },
  { text: '7d', ms: 604_800_000 },
  { text: '1h30m', ms: 5_400_000 },
  { text: '1m30s', ms: 90_000 },
  { text: '0s', ms: 0 },
  { text: 'soon', ms: undefined },
  { text: '15', ms: undefined },
  { text: '15 m', ms: undefined },
  { text: '-5m', ms: undefined },
  { text: '1.5h', ms: undefined },
  { text: '', ms: undefined },
])('parseDuration($text) = $ms', ({ text, ms }) => {
  expect(parseDuration(text)).toBe(ms)
})
