import { InputError } from '../errors'

/** Splits `--max-jobs 4 --builders 'ssh://b x86_64-linux'` into arguments with shell-like quoting, no expansion. */
export function splitArgs(value: string, inputName = 'nix-args'): string[] {
  const args: string[] = []
  let current = ''
  let inWord = false
  let quote: '"' | "'" | undefined
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (quote) {
      if (c === quote) quote = undefined
      else if (c === '\\' && quote === '"' && (value[i + 1] === '"' || value[i + 1] === '\\'))
        current += value[++i]
      else current += c
    } else if (c === '"' || c === "'") {
      quote = c
      inWord = true
    } else if (c === '\\' && i + 1 < value.length) {
      current += value[++i]
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) args.push(current)
      current = ''
      inWord = false
    } else {
      current += c
      inWord = true
    }
  }
  if (quote) throw new InputError(`Input '${inputName}' has an unterminated ${quote} quote`)
  if (inWord) args.push(current)
  return args
}

/** Masks the values of access-token settings passed in nix-args, so Nix's own messages cannot leak them. */
export function maskNixSecrets(args: string[], mask: (secret: string) => void): string[] {
  const secretSettings = ['access-tokens', 'extra-access-tokens', 'netrc-file']
  args.forEach((arg, i) => {
    let value: string | undefined
    if (arg === '--option' && secretSettings.includes(args[i + 1] ?? '')) value = args[i + 2]
    else if (secretSettings.includes(arg.replace(/^--/, ''))) value = args[i + 1]
    if (!value) return
    mask(value)
    for (const part of value.split(/\s+/)) {
      const token = part.slice(part.indexOf('=') + 1)
      if (token.length > 3) mask(token)
    }
  })
  return args
}
