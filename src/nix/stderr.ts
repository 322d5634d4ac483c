/** Parsers of what Nix prints on stderr, across the versions it supports (2.8 to 2.34, Lix). */

/** Binary caches whose `nix-cache-info` Nix could not download (`unable to download 'URL/nix-cache-info'`). */
export function unreachableCaches(stderr: string): string[] {
  const urls = [...stderr.matchAll(/unable to download '([^'\s]+?)\/nix-cache-info'/g)].map(m => m[1])
  return [...new Set(urls)]
}

/** Nix's stderr without its warning lines (`warning: Git tree … is dirty`, evaluation and trace warnings). */
export function stripWarnings(stderr: string): string {
  return stderr
    .split('\n')
    .filter(l => !/^(warning|evaluation warning|trace: warning): /.test(l))
    .join('\n')
}

/** Nix 2.8: `building of '…drv!*' from .drv file timed out after N seconds`. */
const TIMED_OUT = /^\s*error: building of '([^'!^]+\.drv)[^']*'.* timed out after/gm

/**
 * Derivations that failed to build, from Nix's own error lines: `builder for '…drv' failed` (Nix 2.8 to 2.2x,
 * Lix), `Cannot build '…drv'. Reason: builder failed` (newer Nix), `hash mismatch in fixed-output derivation`.
 * Lines quoted from a build log (`> …`) are not Nix's and are ignored.
 */
export function failedDerivations(stderr: string): string[] {
  const out = new Set<string>()
  const patterns = [
    /^\s*error: builder for '([^']+\.drv)' failed/gm,
    /^\s*error: build of '([^']+\.drv)' on '[^']*' failed/gm,
    /^\s*error: Cannot build '([^']+\.drv)'\.\s*\n\s*Reason: builder failed/gm,
    /^\s*error: hash mismatch in fixed-output derivation '([^']+\.drv)'/gm,
    TIMED_OUT
  ]
  for (const re of patterns) for (const m of stderr.matchAll(re)) out.add(m[1])
  return [...out]
}

/** Derivations that Nix killed for running past `timeout` or `max-silent-time`. */
export function timedOutDerivations(stderr: string): Set<string> {
  return new Set([...stderr.matchAll(TIMED_OUT)].map(m => m[1]))
}

/**
 * Whether Nix reported a time-out without naming the derivation: Nix 2.34's `nix-store --realise` prints only
 * `error: timed out after N seconds`. The derivations it killed are then among those it started and did not finish.
 */
export function unnamedTimeOut(stderr: string): boolean {
  return /^\s*error: timed out after \d+ seconds?\s*$/m.test(stderr)
}

/** Derivations that Nix started building, from its `building '…drv'...` lines (local and remote builds). */
export function startedDerivations(stderr: string): string[] {
  return [...new Set([...stderr.matchAll(/^building '([^']+\.drv)'/gm)].map(m => m[1]))]
}
