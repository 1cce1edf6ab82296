import { describe, expect, test } from 'vitest'
import { escapeHtml, html, raw } from '../../src/collector/page/html.js'

describe('escapeHtml, the one escaping function of the fleet page', () => {
  test.each([
    { input: '<script>alert(1)</script>', output: '&lt;script&gt;alert(1)&lt;/script&gt;' },
    { input: '"><img src=x onerror=alert(1)>', output: '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;' },
    { input: "' onmouseover='alert(1)", output: '&#39; onmouseover=&#39;alert(1)' },
    { input: 'a & b', output: 'a &amp; b' },
    { input: '&lt;already&gt;', output: '&amp;lt;already&amp;gt;' },
    { input: '`backtick`', output: '&#96;backtick&#96;' },
    { input: 'web-7', output: 'web-7' },
    { input: 'host\u001b[31mred', output: 'host\\x1B[31mred' },
    { input: 'line\u0085next', output: 'line\\x85next' },
    { input: '/usr/bin/caf\udce9', output: '/usr/bin/caf\\xE9' },
    { input: 'lone \ud800 high', output: 'lone \uFFFD high' },
    { input: 'emoji 🐄 kept', output: 'emoji 🐄 kept' },
    { input: 'tab\tand\nnewline', output: 'tab\tand\nnewline' },
  ])('$input', ({ input, output }) => {
    expect(escapeHtml(input)).toBe(output)
  })
})

describe('html template', () => {
  test('escapes every interpolation, in text and in attributes, and keeps nested fragments', () => {
    const name = '<b onclick="x">web</b>'
    const fragment = html`<a href="/hosts/${name}">${name}</a>`
    expect(fragment.text).toBe(
      '<a href="/hosts/&lt;b onclick=&quot;x&quot;&gt;web&lt;/b&gt;">&lt;b onclick=&quot;x&quot;&gt;web&lt;/b&gt;</a>',
    )
    const list = html`<ul>${['<i>', 'b'].map((item) => html`<li>${item}</li>`)}</ul>`
    expect(list.text).toBe('<ul><li>&lt;i&gt;</li><li>b</li></ul>')
    expect(html`${null}${undefined}${false}${0}`.text).toBe('0')
    expect(html`${raw('<hr>')}`.text).toBe('<hr>')
  })
})
