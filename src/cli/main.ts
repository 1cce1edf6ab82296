import { Argument, Command, CommanderError, Option } from 'commander'
import { DriftwatchError, EXIT, exitCodeFor } from '../errors.js'
import { REPLACEMENT_STATES_ORDERED } from '../fleet/replacements.js'
import { HOST_STATES } from '../fleet/states.js'
import { DEFAULT_COLLECTOR, HOSTS_PAGE_DEFAULT, HOSTS_PAGE_MAX } from '../protocol/defaults.js'
import { displayText } from '../util/display.js'
import { addCommandHelp } from './help.js'
import { type CommandOutput, emit, type Format, parseFormat, styleFor } from './output.js'

const VERSION = '0.1.0'

/**
 * Each command's module, loaded only when that command runs: a scan on every host every few
 * minutes should not pay for the collector's HTTP server and database drivers.
 */
const commands = {
  agent: () => import('./commands/agent.js'),
  completion: () => import('./commands/completion.js'),
  collector: () => import('./commands/collector.js'),
  demo: () => import('./commands/demo.js'),
  fleet: () => import('./commands/fleet.js'),
  import: () => import('./commands/import.js'),
  keygen: () => import('./commands/keygen.js'),
  manifest: () => import('./commands/manifest.js'),
  packages: () => import('./commands/packages.js'),
  scan: () => import('./commands/scan.js'),
}

const formatOption = () =>
  new Option('--format <format>', 'text for people, json for scripts (one document on stdout)').default(
    'text',
  )

const collectorOption = () =>
  new Option(
    '--collector <url>',
    `the collector's URL (default: $DRIFTWATCH_COLLECTOR, else ${DEFAULT_COLLECTOR})`,
  )
const tokenOption = () =>
  new Option(
    '--token <token>',
    'an admin token of the collector; prefer the DRIFTWATCH_ADMIN_TOKEN variable (argv shows in ps)',
  )
const collectorOptions = (o: Record<string, unknown>) => ({
  ...(o.collector ? { collector: String(o.collector) } : {}),
  ...(o.token ? { token: String(o.token) } : {}),
})

/**
 * The CLI: an explicit list of commands, each a handler that returns data; printing and the
 * mapping of errors to exit codes happen here, once.
 */
export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.clean
  /** Wraps a handler: parse --format, call it, print what it returns. `reportOut`: --out names the output. */
  const run =
    (
      handler: (opts: Record<string, unknown>, format: Format) => CommandOutput | Promise<CommandOutput>,
      reportOut = false,
    ) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command
      const opts = command.opts<Record<string, unknown>>()
      const format = parseFormat(String(opts.format ?? 'text'))
      const output = await handler({ ...opts, args: command.args }, format)
      emit(output, format, reportOut && typeof opts.out === 'string' ? opts.out : undefined)
      exitCode = output.exitCode
    }

  const program = new Command('driftwatch')
    .description('Keep hosts true to the golden image they were built from.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) })
    .showHelpAfterError('(run with --help for usage)')

  program
    .command('keygen')
    .description('make an ed25519 key pair to sign manifests: PREFIX.key (0600) and PREFIX.pub')
    .requiredOption('--out <prefix>', 'path prefix of the two key files')
    .addOption(formatOption())
    .action(run(async (o) => (await commands.keygen()).keygen({ out: String(o.out) })))

  const manifest = program.command('manifest').description('record an image and work with its manifest')
  manifest
    .command('capture')
    .description('record the files of an image (run at the end of the image bake)')
    .requiredOption('--image <id@version>', 'the image this manifest describes, e.g. web-base@2026.11.27-1')
    .option('--root <dir>', 'the image root to record', '/')
    .option('--policy <file>', 'policy file (default: config/policy.yaml)')
    .option('--out <file>', 'write the manifest here (.json or .json.gz); without it, to stdout')
    .option('--sign <keyfile>', 'sign with this ed25519 private key; writes FILE.sig next to --out')
    .addOption(formatOption())
    .action(
      run(async (o, format) =>
        (await commands.manifest()).captureCommand({
          image: String(o.image),
          root: String(o.root),
          ...(o.policy ? { policy: String(o.policy) } : {}),
          ...(o.out ? { out: String(o.out) } : {}),
          ...(o.sign ? { sign: String(o.sign) } : {}),
          progress: format === 'text',
        }),
      ),
    )
  manifest
    .command('import')
    .description(
      'make a declared manifest from a Goss file or a CycloneDX SBOM; it checks only what they state',
    )
    .argument('<file>', 'the Goss YAML file or CycloneDX JSON SBOM')
    .addOption(
      new Option('--from <format>', 'what FILE is: a Goss file or a CycloneDX JSON SBOM')
        .choices(['goss', 'cyclonedx'])
        .makeOptionMandatory(),
    )
    .requiredOption('--image <id@version>', 'the image this manifest describes, e.g. web-base@2026.11.27-1')
    .addOption(
      new Option(
        '--manager <manager>',
        "the package manager of Goss's package entries, as its --package (default: detected from --root)",
      ).choices(['deb', 'rpm', 'apk']),
    )
    .option('--root <dir>', 'the image root the package manager is detected from (default: /)')
    .option('--policy <file>', 'policy file (default: config/policy.yaml); files watched are those declared')
    .option('--out <file>', 'write the manifest here (.json or .json.gz); without it, to stdout')
    .option('--sign <keyfile>', 'sign with this ed25519 private key; writes FILE.sig next to --out')
    .addOption(formatOption())
    .action(
      run(async (o) =>
        (await commands.import()).importCommand({
          from: String(o.from),
          file: String((o.args as string[])[0]),
          image: String(o.image),
          ...(o.manager ? { manager: String(o.manager) } : {}),
          ...(o.root ? { root: String(o.root) } : {}),
          ...(o.policy ? { policy: String(o.policy) } : {}),
          ...(o.out ? { out: String(o.out) } : {}),
          ...(o.sign ? { sign: String(o.sign) } : {}),
        }),
      ),
    )
  manifest
    .command('verify')
    .description("check a manifest's structure and digest, and its signature with --key")
    .argument('<file>', 'manifest (.json or .json.gz)')
    .option('--key <pubfile>', 'ed25519 public key; the manifest must carry a valid FILE.sig')
    .addOption(formatOption())
    .action(
      run(async (o) =>
        (await commands.manifest()).verifyCommand({
          file: String((o.args as string[])[0]),
          ...(o.key ? { key: String(o.key) } : {}),
        }),
      ),
    )
  manifest
    .command('show')
    .description('summarize a manifest: image, digest, files, privileged files, policy')
    .argument('<file>', 'manifest (.json or .json.gz)')
    .addOption(formatOption())
    .action(
      run(async (o) => (await commands.manifest()).showCommand({ file: String((o.args as string[])[0]) })),
    )
  manifest
    .command('diff')
    .description('what changed between two manifests (exit 1 when they differ)')
    .argument('<old>', 'the earlier manifest')
    .argument('<new>', 'the later manifest')
    .addOption(formatOption())
    .action(
      run(async (o) =>
        (await commands.manifest()).diffCommand({
          old: String((o.args as string[])[0]),
          new: String((o.args as string[])[1]),
        }),
      ),
    )

  const packages = program
    .command('packages')
    .description("check installed packages against their package managers' own records")
  packages
    .command('verify')
    .description(
      'check every package-owned file against dpkg md5sums / rpm digests, as debsums -s does (exit 1 on changes)',
    )
    .option('--root <dir>', 'the root whose packages are checked', '/')
    .option('--conffiles', 'check configuration files too (they are expected to be edited)', false)
    .addOption(formatOption())
    .action(
      run(async (o) =>
        (await commands.packages()).packagesVerifyCommand({
          root: String(o.root),
          conffiles: o.conffiles === true,
        }),
      ),
    )

  program
    .command('scan')
    .description('fingerprint a host against its manifest once (exit 0 clean, 1 drift)')
    .requiredOption('--manifest <file>', 'the manifest of the image this host was built from')
    .option('--root <dir>', 'the host file system to check', '/')
    .addOption(
      new Option('--mode <mode>', 'full re-hashes everything; quick only what changed')
        .choices(['full', 'quick'])
        .default('full'),
    )
    .option('--key <pubfile>', 'refuse the manifest unless FILE.sig verifies with this ed25519 public key')
    .option(
      '--state-dir <dir>',
      'where the stat cache of quick scans is kept (default /var/lib/driftwatch as root)',
    )
    .option(
      '--verify-packages',
      "also check every package-owned file against the package manager's digests",
      false,
    )
    .option('--out <file>', 'write the report here instead of stdout')
    .addOption(formatOption())
    .action(
      run(async (o, format) => {
        // The walk's workers boot, and the manifest is read and gunzipped in the thread pool,
        // while this thread loads the scan's modules.
        const [{ startWalkers }, { readManifestBytesAsync }] = await Promise.all([
          import('../probes/files/walkers.js'),
          import('../manifest/read.js'),
        ])
        const walkers = startWalkers()
        const manifestBytes = readManifestBytesAsync(String(o.manifest))
        manifestBytes.catch(() => undefined) // awaited by the scan; not unhandled meanwhile
        let scan: Awaited<ReturnType<typeof commands.scan>>
        try {
          scan = await commands.scan()
        } catch (error) {
          await walkers.stop()
          throw error
        }
        return scan.scanCommand(
          {
            manifest: String(o.manifest),
            root: String(o.root),
            mode: String(o.mode),
            ...(o.key ? { key: String(o.key) } : {}),
            ...(o.stateDir ? { stateDir: String(o.stateDir) } : {}),
            verifyPackages: o.verifyPackages === true,
            progress: format === 'text',
          },
          { walkers, manifestBytes },
        )
      }, true),
    )

  const fleet = program
    .command('fleet')
    .description(
      'ask the collector about the fleet: hosts, their state and drift; replacements and the actions on them',
    )
  fleet
    .command('hosts')
    .description('list the hosts the collector knows, with their state and drift')
    .addOption(new Option('--state <state>', 'only hosts in this state').choices(HOST_STATES))
    .option('--image <id>', 'only hosts running this image id')
    .option(
      '--label <key=value>',
      'only hosts with this label; repeat to require several',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option('--limit <n>', `hosts per page, 1 to ${HOSTS_PAGE_MAX} (default ${HOSTS_PAGE_DEFAULT})`)
    .option('--cursor <next>', 'go on from a page: the `next` the page before ended with')
    .option('--all', 'follow every page and list all the hosts that match')
    .addOption(collectorOption())
    .addOption(tokenOption())
    .addOption(formatOption())
    .action(
      run(async (o) =>
        (await commands.fleet()).fleetHostsCommand({
          ...(o.limit !== undefined ? { limit: String(o.limit) } : {}),
          ...(o.cursor !== undefined ? { cursor: String(o.cursor) } : {}),
          ...(o.all ? { all: true } : {}),
          ...collectorOptions(o),
          ...(o.state ? { state: String(o.state) } : {}),
          ...(o.image !== undefined ? { image: String(o.image) } : {}),
          labels: (o.label as string[] | undefined) ?? [],
        }),
      ),
    )
  fleet
    .command('host')
    .description('show one host: its state and why, its image, its latest drift, its history')
    .argument('<id>', 'the host id (the first column of fleet hosts)')
    .addOption(collectorOption())
    .addOption(tokenOption())
    .addOption(formatOption())
    .action(
      run(async (o) =>
        (await commands.fleet()).fleetHostCommand({
          ...collectorOptions(o),
          id: String((o.args as string[])[0]),
        }),
      ),
    )

  fleet
    .command('images')
    .description('list the image versions registered with the collector, their manifest digests and signers')
    .addOption(collectorOption())
    .addOption(tokenOption())
    .addOption(formatOption())
    .action(run(async (o) => (await commands.fleet()).fleetImagesCommand(collectorOptions(o))))
  fleet
    .command('image')
    .description('manage the image versions the collector holds hosts to')
    .command('register')
    .description(
      "register a manifest as its image version's (PUT /v1/images/ID/VERSION): run at the end of the image bake",
    )
    .argument('<manifest>', 'the manifest (.json or .json.gz) that `manifest capture` wrote')
    .option('--key <pubfile>', 'the ed25519 public key; FILE.sig must verify with it and is sent along')
    .addOption(collectorOption())
    .addOption(tokenOption())
    .addOption(formatOption())
    .action(
      run(async (o) =>
        (await commands.fleet()).fleetImageRegisterCommand({
          ...collectorOptions(o),
          manifest: String((o.args as string[])[0]),
          ...(o.key ? { key: String(o.key) } : {}),
        }),
      ),
    )

  program
    .command('agent')
    .description(
      'run the agent: scan on schedule, spool and deliver reports to the collector (until SIGTERM; SIGHUP reloads)',
    )
    .requiredOption('--config <file>', 'agent.yaml (see config/agent.yaml)')
    .option(
      '--once',
      'one scan, deliver it and anything spooled, exit: 0 clean, 1 drift, 2 bad configuration, 4 not delivered (spooled)',
      false,
    )
    .addOption(
      new Option('--mode <mode>', 'the scan --once runs: full re-hashes everything, quick only what changed')
        .choices(['full', 'quick'])
        .default('full'),
    )
    .option('--root <dir>', "the host file system to check, over agent.yaml's root (a container: /host)")
    .action(
      run(async (o) =>
        (await commands.agent()).agentCommand({
          config: String(o.config),
          once: o.once === true,
          mode: String(o.mode),
          ...(o.root ? { root: String(o.root) } : {}),
        }),
      ),
    )

  fleet
    .command('replacements')
    .description('the replacement queue: state and reason of each, budget left per group, the next window')
    .addOption(
      new Option('--state <state>', 'only replacements in this state; repeat for several')
        .choices(REPLACEMENT_STATES_ORDERED)
        .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
    )
    .option('--host <id>', "only this host's replacements")
    .addOption(collectorOption())
    .addOption(tokenOption())
    .addOption(formatOption())
    .action(
      run(async (o) =>
        (await commands.fleet()).fleetReplacementsCommand({
          ...collectorOptions(o),
          states: (o.state as string[] | undefined) ?? [],
          ...(o.host !== undefined ? { host: String(o.host) } : {}),
        }),
      ),
    )
  for (const [action, description] of [
    ['approve', 'approve a replacement that waits for approval (recorded with your token name)'],
    ['cancel', 'cancel a pending or waiting replacement; the host is judged anew'],
  ] as const) {
    fleet
      .command(action)
      .description(description)
      .argument('<id>', 'the replacement id (fleet replacements --format json)')
      .addOption(collectorOption())
      .addOption(tokenOption())
      .addOption(formatOption())
      .action(
        run(async (o) =>
          (await commands.fleet()).fleetDecideCommand({
            ...collectorOptions(o),
            id: String((o.args as string[])[0]),
            action,
          }),
        ),
      )
  }
  fleet
    .command('replace')
    .description('ask for a replacement of a host, whatever its state (within budget and windows)')
    .argument('<host>', 'the host id (the first column of fleet hosts)')
    .addOption(collectorOption())
    .addOption(tokenOption())
    .addOption(formatOption())
    .action(
      run(async (o) =>
        (await commands.fleet()).fleetReplaceCommand({
          ...collectorOptions(o),
          host: String((o.args as string[])[0]),
        }),
      ),
    )

  program
    .command('collector')
    .description('run the collector: the fleet API, its store and its judgement (until SIGTERM)')
    .requiredOption('--config <file>', 'collector.yaml (see config/collector.yaml)')
    .action(run(async (o) => (await commands.collector()).collectorCommand({ config: String(o.config) })))

  program
    .command('demo')
    .description(
      'show the whole loop in a temporary folder: bake and sign an image, start a collector and four agents, change two hosts, watch them flagged, replaced one at a time and alerted',
    )
    .option(
      '--keep',
      'keep the collector running at the end, to explore the fleet page (Ctrl-C ends it)',
      false,
    )
    .action(run(async (o) => (await commands.demo()).demoCommand({ keep: o.keep === true })))

  program
    .command('completion')
    .description('print a shell completion script for bash or zsh')
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices(['bash', 'zsh']))
    .action(
      run(async (o) =>
        (await commands.completion()).completionCommand(program, String((o.args as string[])[0])),
      ),
    )
  addCommandHelp(program)

  try {
    await program.parseAsync(argv)
    return exitCode
  } catch (error) {
    return reportError(error)
  }
}

function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // Asked-for help and version are not errors; help shown for a missing command is bad usage.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') {
      return EXIT.clean
    }
    return EXIT.usage
  }
  const style = styleFor(process.stderr)
  if (error instanceof DriftwatchError) {
    // Messages quote input (a path, a host's answer): escaped like any text from outside.
    process.stderr.write(`${style.red('driftwatch:')} ${displayText(error.message)}\n`)
    if (error.hint) process.stderr.write(style.dim(`  hint: ${displayText(error.hint)}\n`))
  } else {
    process.stderr.write(
      `${style.red('driftwatch: internal error:')} ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    )
  }
  return exitCodeFor(error)
}
