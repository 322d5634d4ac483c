import { BUILT_ATTRIBUTE } from './configurations'
import { END_MARKER, HOST_MARKER } from './warnings'

/**
 * A Nix string literal holding `text` verbatim: `"`, `\` and `${` are escaped, so a value from a flake or an
 * input can never become Nix code.
 */
export function nixString(text: string): string {
  let out = '"'
  for (const ch of text) {
    if (ch === '"' || ch === '\\' || ch === '$') out += `\\${ch}`
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else out += ch
  }
  return `${out}"`
}

/** A Nix expression for a list of strings, passed as JSON inside a string literal. */
export function nixStringList(items: string[]): string {
  return `(builtins.fromJSON ${nixString(JSON.stringify(items))})`
}

/** `.a.b.c` selecting an attribute path, each name quoted. */
function selectPath(path: string[]): string {
  return path.map(a => `.${'${'}${nixString(a)}}`).join('')
}

/** The platform a derivation is for: only this machine or a builder of that platform can build it. */
const SYSTEM_OF = '(t.system or (t.drvAttrs.system or null))'

/**
 * The `--apply` function that evaluates the chosen hosts' toplevel derivations in one process. Each host goes
 * through `builtins.tryEval`, so one host's `throw` or failed assertion does not abort the others.
 */
export function toplevelsExpr(hosts: string[], path: string[] = BUILT_ATTRIBUTE.nixosConfigurations): string {
  // Markers traced around each host attribute the warnings printed meanwhile (parseEvalWarnings).
  return [
    'cs: builtins.listToAttrs (map (n: {',
    '  name = n;',
    `  value = let t = cs.\${n}${selectPath(path)};`,
    '              r = builtins.tryEval (builtins.seq t.drvPath t.drvPath);',
    `              v = if r.success then { drv = r.value; out = t.outPath; system = ${SYSTEM_OF}; } else null;`,
    `          in builtins.trace ("${HOST_MARKER} " + builtins.toJSON n)`,
    `               (builtins.seq r.success (builtins.trace ("${END_MARKER} " + builtins.toJSON n) v));`,
    `}) ${nixStringList(hosts)})`
  ].join('\n')
}

/** The `--apply` function for one host, without tryEval, so that Nix prints the real error. */
export function singleToplevelExpr(
  host: string,
  path: string[] = BUILT_ATTRIBUTE.nixosConfigurations
): string {
  return `cs: let t = cs.${'${'}${nixString(host)}}${selectPath(path)}; in { drv = t.drvPath; out = t.outPath; system = ${SYSTEM_OF}; }`
}

/** The option that puts a host in a rollout wave (nixos/auto-upgrade.nix); hosts without it are in wave 0. */
export const WAVE_OPTION = 'config.services.fleet-auto-upgrade.rollout.wave'

/**
 * The `--apply` function that evaluates the chosen hosts' rollout waves in one process, and nothing else of their
 * systems: `or 0` gives 0 where the option does not exist, tryEval gives null where it throws, and a value that
 * is not a whole number gives null too (each such host is then evaluated alone, for Nix's own message).
 */
export function wavesExpr(hosts: string[]): string {
  return [
    'cs: builtins.listToAttrs (map (n: {',
    '  name = n;',
    `  value = let r = builtins.tryEval (cs.\${n}.${WAVE_OPTION} or 0);`,
    '          in if r.success && builtins.isInt r.value then r.value else null;',
    `}) ${nixStringList(hosts)})`
  ].join('\n')
}

/** The `--apply` function for one host's wave, without tryEval, so that Nix prints the real error. */
export function singleWaveExpr(host: string): string {
  return `cs: let v = cs.${'${'}${nixString(host)}}.${WAVE_OPTION} or 0; in if builtins.isInt v then v else { type = builtins.typeOf v; }`
}
