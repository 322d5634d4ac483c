import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as path from 'path'
import { ActionRun, runAction } from './fixtures/action'
import { describeUnless } from './fixtures/skip'
import { Fleet, HostSpec, createFleet, examplePackageSets, uniquePackageSet } from '../testkit/fleet'
import {
  BUILDER_ALIAS,
  Builder,
  builderUnavailable,
  startBuilder,
  trixieRoot
} from './fixtures/remote/builder'

// Remote builders are how a fleet outgrows one machine. The builder here is a Debian trixie root with a newer
// Nix and a store of its own (scripts/trixie-root.sh), behind an sshd that this test starts.
const ROOT = trixieRoot()
const describeWithBuilder = describeUnless(builderUnavailable(ROOT))

// Nothing may build locally, so every build has to go to the builder.
const NIX_ARGS = `--max-jobs 0 --builders 'ssh://${BUILDER_ALIAS} x86_64-linux'`

// Upgrades, a downgrade, an added and a removed package, a kernel change, a host that breaks only after the
// update (db: rsync fails in the next package set), a host that never evaluates, and an excluded one.
const HOSTS: HostSpec[] = [
  { name: 'web', packages: ['curl', 'htop'], services: ['nginx'] },
  { name: 'db', packages: ['htop', 'rsync'], services: ['postgresql'] },
  { name: 'mail', packages: ['curl'], services: ['openssl'] },
  { name: 'installer-minimal', packages: ['bash'] },
  { name: 'legacy', expr: 'throw "legacy: the option services.oldDaemon was removed"' }
]

interface HostBuildJson {
  status: string
  drvPath?: string
  outPath?: string
  error?: string
  logTail?: string
}

interface ReportJson {
  hosts: { host: string; status: string; before?: HostBuildJson; after?: HostBuildJson }[]
  timings: { phase: string; seconds: number }[]
}

interface Outcome {
  run: ActionRun
  report: ReportJson
}

/** A fresh fleet (its own salt, so nothing of it is in any store yet), bumped, and the action run on it. */
async function updateFleet(
  tag: string,
  fleets: Fleet[],
  inputs: Record<string, string>,
  env: Record<string, string> = {}
): Promise<Outcome> {
  const salt = `${tag}-${process.pid}-${Date.now()}`
  const sets = examplePackageSets()
  const fleet = createFleet(uniquePackageSet(sets.before, salt), HOSTS)
  fleets.push(fleet)
  fleet.bump(uniquePackageSet(sets.after, salt))
  const run = await runAction(fleet.fleetDir, { 'dry-run': 'true', 'hold-back': 'none', ...inputs }, env)
  const report = JSON.parse(fs.readFileSync(run.outputs['report-json'], 'utf8')) as ReportJson
  return { run, report }
}

/**
 * The report as far as two fleets that differ only in their salt must agree: without the footer (timings),
 * the `<<<`/`>>>` lines naming the systems, store hashes, and the inputs' revisions and dates.
 */
function comparable(md: string): string {
  return (
    md
      .split('\n')
      .filter(l => !/^<sub>.*<\/sub>$/.test(l) && !/^(<<<|>>>) /.test(l))
      .map(l => l.replace(/\/nix\/store\/[0-9a-df-np-sv-z]{32}-/g, '/nix/store/…-'))
      .map(l => (/^\| pkgs \| `/.test(l) ? '| pkgs | (revisions) |' : l))
      // The two fleets' package sets differ by their salt: so do the revisions the breaking input moves between.
      .map(l => l.replace(/^- \*\*pkgs\*\* `[0-9a-f]{12}` → `[0-9a-f]{12}`$/, '- **pkgs** (revisions)'))
      .map(l =>
        l.replace(
          /^Would have received: pkgs `[0-9a-f]{7}` → `[0-9a-f]{7}`/,
          'Would have received: pkgs (revisions)'
        )
      )
      .join('\n')
  )
}

/** The rows of the fleet table. */
function hostRows(md: string): string[] {
  const start = md.indexOf('### Hosts')
  const end = md.indexOf('\n\n', md.indexOf('|---', start))
  return md
    .slice(start, end)
    .split('\n')
    .filter(l => /^\| [^-]/.test(l))
}

/** Each host's nvd text, without the lines that name its systems' store paths. */
function packageChanges(md: string): string {
  const changes = md.slice(md.indexOf('### Package changes per host'))
  return changes
    .slice(0, changes.indexOf('\n<sub>'))
    .split('\n')
    .filter(l => !/^(<<<|>>>) /.test(l))
    .join('\n')
}

const built = (h: ReportJson['hosts'][number]): HostBuildJson[] =>
  [h.before, h.after].filter((b): b is HostBuildJson => b?.status === 'built')

describeWithBuilder('the action with a remote builder (ssh://, a store of its own)', () => {
  let builder: Builder | undefined
  const fleets: Fleet[] = []
  let remote: Outcome
  let local: Outcome

  beforeAll(async () => {
    const b = await startBuilder(ROOT)
    builder = b
    console.log(`Remote builder: ${b.nixVersion} in ${ROOT}, sshd on 127.0.0.1:${b.port}`)
    remote = await updateFleet('remote', fleets, { 'nix-args': NIX_ARGS }, b.env)
    local = await updateFleet('local', fleets, {})
    const seconds = (o: Outcome): string =>
      o.report.timings
        .filter(t => t.phase.startsWith('Build'))
        .map(t => `${t.seconds.toFixed(1)} s`)
        .join(' + ')
    console.log(`Builds before + after the update: remote ${seconds(remote)}, local ${seconds(local)}`)
  })
  afterAll(async () => {
    await builder?.stop()
    for (const f of fleets) f.remove()
  })

  test('the outputs are those of a local build', () => {
    const { run } = remote
    expect(run.outputs.changed).toBe('true')
    expect(JSON.parse(run.outputs.hosts)).toEqual(['db', 'legacy', 'mail', 'web'])
    expect(JSON.parse(run.outputs['updated-inputs'])).toEqual(['pkgs'])
    expect(JSON.parse(run.outputs['failed-hosts'])).toEqual(['db', 'legacy'])
    expect(JSON.parse(run.outputs['regressed-hosts'])).toEqual(['db'])
    expect(JSON.parse(run.outputs['reboot-hosts'])).toEqual(['mail', 'web'])
    // db regressed and fail-on-regression is on by default.
    expect(run.exitCode).toBe(1)
    expect(run.log).toContain('::error::Hosts that built before the update fail after it: db')
    for (const name of [
      'changed',
      'hosts',
      'updated-inputs',
      'failed-hosts',
      'regressed-hosts',
      'reboot-hosts'
    ])
      expect([name, run.outputs[name]]).toEqual([name, local.run.outputs[name]])
    expect(run.exitCode).toBe(local.run.exitCode)
  })

  test('every system was built on the builder and copied back', () => {
    const systems = remote.report.hosts.flatMap(built)
    // web, db and mail before the update; web and mail after it.
    expect(systems).toHaveLength(5)
    for (const s of systems) {
      const outPath = s.outPath as string
      expect(fs.existsSync(path.join(builder?.storeDir as string, path.basename(outPath)))).toBe(true)
      expect(fs.existsSync(outPath)).toBe(true)
      expect(remote.run.log).toContain(`building '${s.drvPath}' on 'ssh://${BUILDER_ALIAS}'`)
    }
    // Registered as valid in the local store, not only present on disk.
    execFileSync('nix-store', ['--check-validity', ...systems.map(s => s.outPath as string)])
    expect(local.run.log).not.toContain(`on 'ssh://${BUILDER_ALIAS}'`)
  })

  test('the report is the one a local build gives', () => {
    const md = remote.run.outputs.report
    expect(hostRows(md)).toEqual(hostRows(local.run.outputs.report))
    expect(hostRows(md)).toContain(
      '| web | ✅ updated | 4 | 1 | 2 | 2 | -32B | yes (kernel, initrd, kernel-modules) |'
    )
    expect(packageChanges(md)).toEqual(packageChanges(local.run.outputs.report))
    expect(packageChanges(md)).toContain('[U*]  #1  curl          -56B  8.7.1 -> 8.8.0')
    expect(comparable(md)).toEqual(comparable(local.run.outputs.report))
  })

  test('the host that fails on the builder is attributed as locally, with its build log', () => {
    const db = (o: Outcome): HostBuildJson | undefined => o.report.hosts.find(h => h.host === 'db')?.after
    const remoteDb = db(remote)
    expect(remoteDb?.status).toBe('build-failed')
    expect(remoteDb?.error).toBe('failed to build: rsync-3.2.7')
    expect(remoteDb?.logTail).toContain('error: test suite of rsync failed')
    expect(remoteDb?.error).toBe(db(local)?.error)
    expect(remoteDb?.logTail).toBe(db(local)?.logTail)
    // The builder streamed the log to the client, which keeps it: `nix log` on the client has it.
    const log = execFileSync(
      'nix',
      ['--extra-experimental-features', 'nix-command', 'log', remoteDrv('rsync')],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }
    )
    expect(log).toContain('error: test suite of rsync failed')
  })

  /** The failed rsync derivation of the remote fleet, as Nix named it in the build output. */
  function remoteDrv(name: string): string {
    const m = new RegExp(`error: build of '(/nix/store/[^']+-${name}-[^']+\\.drv)' on 'ssh://`).exec(
      remote.run.log
    )
    if (!m) throw new Error(`no failed remote build of ${name} in the action's log`)
    return m[1]
  }
})
