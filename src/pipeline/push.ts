import { tail } from '../exec'
import { copiedPaths, isBinaryCacheUrl, withParam } from '../nix/cache'
import { redactUrl, scrub } from '../redact'
import { Nix } from '../nix/nix'
import { stripWarnings } from '../nix/stderr'
import { PushReport } from '../types'
import { errorMessage } from '../errors'
export type { PushReport, PushStatus } from '../types'

/** What the copy of the new systems to the binary cache did. */
export interface PushTarget {
  url: string
  /** File holding the Nix secret signing key. */
  keyFile: string
}

/**
 * Copies the given systems and their closures to the store in one `nix copy`, signed with the key: a binary cache
 * signs while it uploads (`?secret-key=`); for other stores (ssh-ng://, ssh://, local) the paths are signed in the
 * local store first, so that a store that requires signatures accepts them. Never throws: a failure is reported.
 */
export async function pushSystems(
  nix: Nix,
  target: PushTarget,
  systems: { host: string; outPath: string }[]
): Promise<PushReport> {
  const report: PushReport = {
    to: redactUrl(target.url),
    status: 'skipped',
    hosts: systems.map(s => s.host),
    paths: 0,
    bytes: 0,
    closurePaths: 0
  }
  if (systems.length === 0) {
    report.error = 'no host built after the update'
    return report
  }
  const fail = (what: string, stderr: string, exitCode: number): PushReport => {
    const said = tail(stripWarnings(stderr), 15) || `exit code ${exitCode}`
    report.status = 'failed'
    report.error = scrub(`${what}: ${said}`, target.url)
    return report
  }
  const paths = [...new Set(systems.map(s => s.outPath))]
  try {
    const infos = await nix.pathInfo(paths)
    report.closurePaths = infos.size
    if (!isBinaryCacheUrl(target.url)) {
      const signed = await nix.signClosures(target.keyFile, paths)
      if (signed.exitCode !== 0) return fail('signing the paths failed', signed.stderr, signed.exitCode)
    }
    const url = isBinaryCacheUrl(target.url)
      ? withParam(target.url, 'secret-key', target.keyFile)
      : target.url
    const r = await nix.copyTo(url, paths)
    const sent = copiedPaths(r.stderr)
    report.paths = sent.length
    report.bytes = sent.reduce((sum, p) => sum + (infos.get(p)?.narSize ?? 0), 0)
    if (r.exitCode !== 0) return fail('nix copy failed', r.stderr, r.exitCode)
    report.status = 'pushed'
  } catch (e) {
    report.status = 'failed'
    report.error = scrub(errorMessage(e), target.url)
  }
  return report
}
