import type { Command } from 'commander'

/** What `--help` adds under each command: examples, and what each exit code means for it. */
export interface CommandHelp {
  examples: string[]
  exits: [code: number, meaning: string][]
  /** A last line worth knowing. */
  after?: string
}

const BAD_USAGE: [number, string] = [
  2,
  'bad usage, configuration or input (one line on stderr: what, where, how to fix)',
]
const INTEGRITY: [number, string] = [
  3,
  "integrity failure: the manifest's digest or signature does not match",
]

/** Keyed by the command's path below `driftwatch`, e.g. "manifest capture". */
export const COMMAND_HELP: Record<string, CommandHelp> = {
  keygen: {
    examples: ['driftwatch keygen --out /etc/driftwatch/image    # image.key (0600) and image.pub'],
    exits: [[0, 'the key pair was written'], BAD_USAGE],
  },
  'manifest capture': {
    examples: [
      'driftwatch manifest capture --image web-base@2026.11.27-1 --root /mnt/image --out web-base.json.gz',
      'driftwatch manifest capture --image web-base@1 --out web-base.json --sign /etc/driftwatch/image.key',
    ],
    exits: [[0, 'the manifest was written'], BAD_USAGE],
  },
  'manifest import': {
    examples: [
      'driftwatch manifest import --from goss goss.yaml --image web-base@1 --out web-base.json',
      'driftwatch manifest import --from cyclonedx sbom.cdx.json --image web-base@1 --out web-base.json',
    ],
    exits: [[0, 'the declared manifest was written'], BAD_USAGE],
  },
  'manifest verify': {
    examples: ['driftwatch manifest verify web-base.json.gz --key image.pub'],
    exits: [[0, 'valid: structure, digest and (with --key) signature'], BAD_USAGE, INTEGRITY],
  },
  'manifest show': {
    examples: [
      'driftwatch manifest show web-base.json.gz',
      'driftwatch manifest show web-base.json.gz --format json',
    ],
    exits: [[0, 'shown'], BAD_USAGE, INTEGRITY],
  },
  'manifest diff': {
    examples: ['driftwatch manifest diff web-base-old.json.gz web-base.json.gz'],
    exits: [[0, 'the manifests hold the same'], [1, 'they differ'], BAD_USAGE, INTEGRITY],
  },
  'packages verify': {
    examples: [
      'driftwatch packages verify',
      'driftwatch packages verify --root /mnt/image --conffiles --format json',
    ],
    exits: [[0, 'every package file matches'], [1, 'files were changed or are missing'], BAD_USAGE],
  },
  scan: {
    examples: [
      'driftwatch scan --manifest web-base.json.gz --key image.pub',
      'driftwatch scan --manifest web-base.json.gz --mode quick --format json --out report.json',
      'driftwatch scan --manifest web-base.json.gz --root /mnt/image    # an image folder',
    ],
    exits: [[0, 'no drift'], [1, 'drift found'], BAD_USAGE, INTEGRITY],
  },
  'fleet hosts': {
    examples: [
      'driftwatch fleet hosts    # the collector and token from DRIFTWATCH_COLLECTOR, DRIFTWATCH_ADMIN_TOKEN',
      'driftwatch fleet hosts --state snowflake --label group=web-prod --format json',
    ],
    exits: [
      [0, 'listed'],
      [2, 'bad usage, a refused token, or the collector cannot be reached'],
    ],
  },
  'fleet host': {
    examples: ['driftwatch fleet host 3f0c9a1e…    # the id is the first column of fleet hosts'],
    exits: [
      [0, 'shown'],
      [2, 'bad usage, an unknown host, a refused token, or the collector cannot be reached'],
    ],
  },
  'fleet images': {
    examples: [
      'driftwatch fleet images',
      'driftwatch fleet images --collector https://collector.example:8080 --format json',
    ],
    exits: [
      [0, 'listed'],
      [2, 'bad usage, a refused token, or the collector cannot be reached'],
    ],
  },
  'fleet image register': {
    examples: [
      'driftwatch fleet image register web-base.json.gz --key /etc/driftwatch/image.pub    # sends web-base.json.gz.sig too',
      'driftwatch fleet image register web-base.json --format json',
    ],
    exits: [
      [0, "registered as its image version's manifest (or that version's entry updated)"],
      [
        2,
        'bad usage, an unreadable manifest or key, a refused token or request, or the collector cannot be reached',
      ],
      [3, "integrity failure: the manifest's digest or its signature (with --key) does not match"],
    ],
  },
  'fleet replacements': {
    examples: [
      'driftwatch fleet replacements',
      'driftwatch fleet replacements --state pending --state waiting --format json    # the full ids',
      'driftwatch fleet replacements --host 3f0c9a1e…',
    ],
    exits: [
      [0, 'listed'],
      [2, 'bad usage, a refused token, or the collector cannot be reached'],
    ],
  },
  'fleet approve': {
    examples: ['driftwatch fleet approve 7d2e…    # the id from fleet replacements --format json'],
    exits: [
      [0, 'approved; the replacement is shown'],
      [
        2,
        'bad usage, an unknown replacement, the collector refused (not pending or waiting, a refused token), or it cannot be reached',
      ],
    ],
  },
  'fleet cancel': {
    examples: ['driftwatch fleet cancel 7d2e…    # the id from fleet replacements --format json'],
    exits: [
      [0, 'cancelled; the replacement is shown'],
      [
        2,
        'bad usage, an unknown replacement, the collector refused (dispatched or finished already, a refused token), or it cannot be reached',
      ],
    ],
  },
  'fleet replace': {
    examples: ['driftwatch fleet replace 3f0c9a1e…    # the id is the first column of fleet hosts'],
    exits: [
      [0, "the replacement is shown: the new one, or the host's open one"],
      [
        2,
        'bad usage, an unknown host, the collector refused (the host was replaced already, a refused token), or it cannot be reached',
      ],
    ],
  },
  agent: {
    examples: [
      'driftwatch agent --config /etc/driftwatch/agent.yaml    # until SIGTERM; SIGHUP reloads',
      'driftwatch agent --config /etc/driftwatch/agent.yaml --once --mode quick',
      'driftwatch agent --config /etc/driftwatch/agent.yaml --once --root /host    # in a container',
    ],
    exits: [
      [0, '--once: the report was delivered, no drift; without --once: stopped by SIGTERM'],
      [1, '--once: the report was delivered, with drift'],
      [2, 'bad usage or configuration'],
      [4, '--once: the report was not delivered; it stays in the spool for the next run'],
    ],
  },
  demo: {
    examples: ['driftwatch demo', 'driftwatch demo --keep    # then explore the fleet page; Ctrl-C ends it'],
    exits: [
      [0, 'the loop ran as narrated'],
      [1, 'a step did not happen (its files are kept)'],
    ],
  },
  collector: {
    examples: ['driftwatch collector --config /etc/driftwatch/collector.yaml'],
    exits: [[0, 'stopped by SIGTERM or SIGINT after finishing requests in flight'], BAD_USAGE],
    after: 'The fleet page is at / (e.g. http://127.0.0.1:8080/): sign in with one of adminTokens.',
  },
  completion: {
    examples: [
      'driftwatch completion bash > /etc/bash_completion.d/driftwatch',
      "echo 'source <(driftwatch completion zsh)' >> ~/.zshrc    # after compinit",
      'source <(driftwatch completion bash)                # this shell only',
    ],
    exits: [[0, 'the script was printed'], BAD_USAGE],
  },
}

/** The text `--help` shows after a command's options. */
export function helpText(help: CommandHelp): string {
  const width = Math.max(...help.exits.map(([code]) => String(code).length))
  return [
    '',
    'Examples:',
    ...help.examples.map((example) => `  ${example}`),
    '',
    'Exit codes:',
    ...help.exits.map(([code, meaning]) => `  ${String(code).padStart(width)}  ${meaning}`),
    ...(help.after ? ['', help.after] : []),
  ].join('\n')
}

/** The commands that run something (not groups of others), with their paths. */
export function leafCommands(program: Command, prefix = ''): { path: string; command: Command }[] {
  return program.commands.flatMap((command) => {
    const path = prefix ? `${prefix} ${command.name()}` : command.name()
    return command.commands.length ? leafCommands(command, path) : [{ path, command }]
  })
}

/** Adds examples and exit codes to every command that has them in COMMAND_HELP. */
export function addCommandHelp(program: Command): void {
  for (const { path, command } of leafCommands(program)) {
    const help = COMMAND_HELP[path]
    if (help) command.addHelpText('after', helpText(help))
  }
}
