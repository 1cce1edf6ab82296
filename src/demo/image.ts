import { chmodSync, cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/*
 * The demo's golden image: a small Debian 12 root, written file by file, with what a real image
 * bake leaves behind (os-release, accounts, sshd_config, a sysctl.d file, a systemd unit and its
 * [Install] link, binaries, and dpkg's database with real stanzas from Debian 12). It is small
 * so that the whole loop runs in seconds, and it is made here, not shipped, so that the demo
 * works from an installed package too.
 */

/** A dpkg status stanza as Debian 12 writes it (fields from the real packages). */
const HOSTNAME_STANZA = `Package: hostname
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 46
Maintainer: Michael Meskes <meskes@debian.org>
Architecture: amd64
Version: 3.23+nmu1
Replaces: nis (<< 3.17-30)
Pre-Depends: libc6 (>= 2.34)
Breaks: nis (<< 3.17-30)
Description: utility to set/show the host name or domain name
 This package provides commands which can be used to display the system's
 DNS name, and to display or set its hostname or NIS domain name.
`

const OPENSSH_STANZA = `Package: openssh-server
Status: install ok installed
Priority: optional
Section: net
Installed-Size: 1938
Maintainer: Debian OpenSSH Maintainers <debian-ssh@lists.debian.org>
Architecture: amd64
Multi-Arch: foreign
Source: openssh
Version: 1:9.2p1-2+deb12u3
Replaces: openssh-client (<< 1:7.9p1-8), ssh (<< 1:6.5p1-5), ssh-krb5 (<< 1:6.5p1-5)
Depends: libpam0g (>= 0.99.7.1), libssl3 (>= 3.0.0), openssh-client (= 1:9.2p1-2+deb12u3)
Description: secure shell (SSH) server, for secure access from remote machines
 This is the portable version of OpenSSH, a free implementation of
 the Secure Shell protocol as specified by the IETF secsh working group.
`

/** What an operator typed by hand on one host: `apt-get install netcat-openbsd`. */
export const NETCAT_STANZA = `Package: netcat-openbsd
Status: install ok installed
Priority: important
Section: net
Installed-Size: 109
Maintainer: Guilhem Moulin <guilhem@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 1.219-1
Depends: libbsd0 (>= 0.2.0), libc6 (>= 2.34)
Description: TCP/IP swiss army knife
 A simple Unix utility which reads and writes data across network
 connections using TCP or UDP protocol.
`

const PASSWD = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
sshd:x:100:65534::/run/sshd:/usr/sbin/nologin
`

const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
www-data:x:33:
nogroup:x:65534:
`

const SSHD_CONFIG = `# Hardened by the image bake.
Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
X11Forwarding no
UsePAM yes
Subsystem sftp /usr/lib/openssh/sftp-server
`

const SSH_UNIT = `[Unit]
Description=OpenBSD Secure Shell server
After=network.target auditd.service

[Service]
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
Restart=on-failure

[Install]
WantedBy=multi-user.target
Alias=sshd.service
`

function write(root: string, path: string, content: string, mode = 0o644): void {
  const full = join(root, path)
  mkdirSync(dirname(full), { recursive: true })
  writeFileSync(full, content)
  chmodSync(full, mode)
}

/** Writes the golden image into `root` (an empty or missing folder). */
export function bakeImage(root: string): void {
  write(
    root,
    'etc/os-release',
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n',
  )
  write(root, 'etc/passwd', PASSWD)
  write(root, 'etc/group', GROUP)
  write(root, 'etc/shadow', 'root:*:19700:0:99999:7:::\nsshd:!:19700::::::\n', 0o640)
  write(root, 'etc/gshadow', 'root:*::\n', 0o640)
  write(root, 'etc/ssh/sshd_config', SSHD_CONFIG)
  mkdirSync(join(root, 'etc/ssh/sshd_config.d'), { recursive: true })
  write(root, 'etc/sysctl.d/60-hardening.conf', 'net.ipv4.ip_forward = 0\nkernel.kptr_restrict = 2\n')
  write(root, 'lib/systemd/system/ssh.service', SSH_UNIT)
  mkdirSync(join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true })
  symlinkSync(
    '/lib/systemd/system/ssh.service',
    join(root, 'etc/systemd/system/multi-user.target.wants/ssh.service'),
  )
  symlinkSync('/lib/systemd/system/ssh.service', join(root, 'etc/systemd/system/sshd.service'))
  write(root, 'usr/bin/hostname', "#!/bin/sh\n# the image's hostname(1)\nexec cat /etc/hostname\n", 0o755)
  write(root, 'usr/sbin/sshd', '#!/bin/sh\n# stands in for the OpenSSH daemon of the image\nexit 0\n', 0o755)
  write(root, 'usr/bin/webapp', '#!/bin/sh\n# the service this image exists for\nexit 0\n', 0o755)
  write(
    root,
    'usr/share/doc/hostname/copyright',
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n',
  )
  write(root, 'var/lib/dpkg/status', `${HOSTNAME_STANZA}\n${OPENSSH_STANZA}`)
  write(
    root,
    'var/lib/dpkg/info/hostname.list',
    '/.\n/usr\n/usr/bin\n/usr/bin/hostname\n/usr/share\n/usr/share/doc\n/usr/share/doc/hostname\n/usr/share/doc/hostname/copyright\n',
  )
  write(
    root,
    'var/lib/dpkg/info/openssh-server.list',
    '/.\n/usr\n/usr/sbin\n/usr/sbin/sshd\n/lib\n/lib/systemd\n/lib/systemd/system\n/lib/systemd/system/ssh.service\n',
  )
}

/** A host started from the image: a copy of it with a machine id and hostname of its own. */
export function makeHost(image: string, root: string, hostname: string, machineId: string): void {
  cpSync(image, root, { recursive: true, verbatimSymlinks: true })
  write(root, 'etc/machine-id', `${machineId}\n`, 0o444)
  write(root, 'etc/hostname', `${hostname}\n`)
}

/** Incident one: an operator installs a package by hand (`apt-get install netcat-openbsd`). */
export function installPackageByHand(root: string): void {
  write(root, 'usr/bin/nc.openbsd', '#!/bin/sh\n# netcat, installed by hand\nexit 0\n', 0o755)
  symlinkSync('/usr/bin/nc.openbsd', join(root, 'usr/bin/nc'))
  write(root, 'var/lib/dpkg/info/netcat-openbsd.list', '/.\n/usr\n/usr/bin\n/usr/bin/nc.openbsd\n')
  const status = join(root, 'var/lib/dpkg/status')
  writeFileSync(status, `${HOSTNAME_STANZA}\n${NETCAT_STANZA}\n${OPENSSH_STANZA}`)
}

/** Incident two: a binary replaced (a trojaned sshd) and root login turned on over SSH. */
export function replaceBinaryAndLoosenSsh(root: string): void {
  write(root, 'usr/sbin/sshd', "#!/bin/sh\n# not the image's sshd: it logs passwords\nexit 0\n", 0o755)
  write(root, 'etc/ssh/sshd_config.d/50-debug.conf', 'PermitRootLogin yes\n')
}
