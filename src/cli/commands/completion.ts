import type { Command, Option } from 'commander'
import { DriftwatchError, EXIT } from '../../errors.js'
import type { CommandOutput } from '../output.js'

/** Values of options that take free text but mean one of a few words (`--format` is checked by its handler). */
const KNOWN_VALUES: Record<string, string[]> = { '--format': ['text', 'json'] }

/** Options whose value is a path: the shell completes file names there. */
const PATH_VALUE = /<(file|dir|keyfile|pubfile|prefix|old|new)>/

interface Node {
  path: string
  /** True for a group of commands (manifest, fleet), false for one that runs. */
  group: boolean
  subcommands: string[]
  options: string[]
}

/** Every command of the tree with its subcommands and options, from commander's own records. */
function nodesOf(command: Command, path = ''): Node[] {
  const options = [...command.options.map((option) => option.long ?? option.short ?? ''), '--help'].filter(
    Boolean,
  )
  // A command without subcommands whose first argument is one of a few words (`completion bash`) offers those.
  const argumentChoices = command.registeredArguments[0]?.argChoices ?? []
  const node: Node = {
    path,
    group: command.commands.length > 0,
    subcommands: command.commands.length ? command.commands.map((c) => c.name()) : [...argumentChoices],
    options,
  }
  return [
    node,
    ...command.commands.flatMap((child) => nodesOf(child, path ? `${path} ${child.name()}` : child.name())),
  ]
}

function allOptions(command: Command): Option[] {
  return [...command.options, ...command.commands.flatMap(allOptions)]
}

/** Shell words are generated from the command tree; quote them anyway for the case patterns. */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`
}

/**
 * A bash completion script for the program: subcommands, options, the choices of options that
 * have them (`--format text|json`), and file names after options that take a path.
 */
export function bashCompletion(program: Command): string {
  const name = program.name()
  const nodes = nodesOf(program)
  const options = allOptions(program)
  const takesValue = [...new Set(options.filter((o) => o.required || o.optional).map((o) => o.long))].filter(
    (long): long is string => long !== undefined,
  )
  const choices = new Map<string, Set<string>>(
    Object.entries(KNOWN_VALUES).map(([long, values]) => [long, new Set(values)]),
  )
  const paths = new Set<string>()
  for (const option of options) {
    if (!option.long) continue
    if (option.argChoices?.length) {
      const known = choices.get(option.long) ?? new Set<string>()
      for (const choice of option.argChoices) known.add(choice)
      choices.set(option.long, known)
    } else if (PATH_VALUE.test(option.flags)) paths.add(option.long)
  }
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`
  return `# bash completion for ${name}, generated from its command tree by \`${name} completion bash\`.
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local path="" word i skip=0
  # The command path so far: words that are not options nor an option's value.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    if ((skip)); then skip=0; continue; fi
    case "$word" in
      ${takesValue.map(quote).join('|') || "''"}) skip=1; continue ;;
      -*) continue ;;
    esac
    case "$path" in
${nodes
  .filter((node) => node.group)
  .map(
    (node) =>
      `      ${quote(node.path)}) case "$word" in ${node.subcommands.map(quote).join('|')}) path="\${path:+$path }$word" ;; esac ;;`,
  )
  .join('\n')}
    esac
  done
  case "$prev" in
${[...choices]
  .map(
    ([long, values]) =>
      `    ${quote(long)}) COMPREPLY=($(compgen -W ${quote([...values].join(' '))} -- "$cur")); return ;;`,
  )
  .join('\n')}
${
  paths.size
    ? `    ${[...paths].map(quote).join('|')}) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;\n`
    : ''
}  esac
  local subs="" opts=""
  case "$path" in
${nodes.map((node) => `    ${quote(node.path)}) subs=${quote(node.subcommands.join(' '))}; opts=${quote(node.options.join(' '))} ;;`).join('\n')}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur")); return; fi
  if [[ -n "$subs" ]]; then COMPREPLY=($(compgen -W "$subs" -- "$cur")); return; fi
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F ${fn} ${name}
`
}

/**
 * zsh runs the bash script through its own bashcompinit layer: one generated source for both
 * shells. It is sourced (after compinit), not installed as an autoloaded `_driftwatch` file.
 */
export function zshCompletion(program: Command): string {
  return `# zsh completion for ${program.name()}, generated from its command tree by \`${program.name()} completion zsh\`.
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program)}`
}

export function completionCommand(program: Command, shell: string): CommandOutput {
  if (shell !== 'bash' && shell !== 'zsh') {
    throw new DriftwatchError('USAGE', `completion ${shell}: no completion for this shell`, {
      hint: 'driftwatch completion bash, or driftwatch completion zsh',
    })
  }
  const script = shell === 'bash' ? bashCompletion(program) : zshCompletion(program)
  return { exitCode: EXIT.clean, json: { shell, script }, text: () => script }
}
