import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/**
 * Builds a small image root in a temporary folder: real files, directories and links, laid out
 * like a system so the default policy watches them.
 */
export function buildImageRoot(root: string): void {
  const file = (path: string, content: string, mode = 0o644) => {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
    chmodSync(join(root, path), mode)
  }
  file('usr/bin/ls', '#!/bin/sh\necho ls\n', 0o755)
  file('usr/bin/cat', '#!/bin/sh\necho cat\n', 0o755)
  file('usr/lib/libc.so.6', 'not really libc\n'.repeat(1000))
  file('usr/share/doc/base/README', 'docs\n')
  file('etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n')
  file('etc/ssh/sshd_config', 'PermitRootLogin no\n')
  file('etc/hostname', 'image-build\n')
  file('etc/machine-id', '00000000000000000000000000000001\n')
  symlinkSync('usr/bin', join(root, 'bin'))
  symlinkSync('/usr/bin/ls', join(root, 'usr/bin/dir'))
}
