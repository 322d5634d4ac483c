import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { Git } from '../src/git/git'
import { ActionRun, runAction } from './fixtures/action'
import {
  Fleet,
  HostSpec,
  PackageSet,
  createFleet,
  bareWithClone,
  examplePackageSets,
  git,
  uniquePackageSet
} from '../testkit/fleet'

// What each fault must give: a clear error or warning, nothing lost, the base branch untouched.

const HOSTS: HostSpec[] = [
  { name: 'web', packages: ['curl'], services: ['nginx'] },
  { name: 'db', packages: ['htop', 'rsync'] }
]

let counter = 0
function fleetWith(
  set: (s: PackageSet) => PackageSet,
  hosts = HOSTS
): { fleet: Fleet; salt: string; base: PackageSet } {
  const salt = `faults-${process.pid}-${Date.now()}-${counter++}`
  const base = examplePackageSets().before
  return { fleet: createFleet(uniquePackageSet(set(base), salt), hosts), salt, base }
}

const binDirs: string[] = []
afterAll(() => {
  for (const dir of binDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

function binDirWith(entries: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-bin-'))
  binDirs.push(dir)
  for (const [name, target] of Object.entries(entries)) {
    if (target.startsWith('#!')) fs.writeFileSync(path.join(dir, name), target, { mode: 0o755 })
    else fs.symlinkSync(target, path.join(dir, name))
  }
  return dir
}

function errorLines(r: ActionRun): string[] {
  return r.log.split('\n').filter(l => l.startsWith('::error::'))
}

describe('Nix faults', () => {
  test('nix missing, and nix too old, are named before anything runs', async () => {
    const { fleet } = fleetWith(s => s)
    try {
      const lock = fleet.lock()
      const noNix = binDirWith({ git: '/usr/bin/git' })
      const r = await runAction(fleet.fleetDir, { 'dry-run': 'true' }, { PATH: noNix })
      expect(r.exitCode).toBe(1)
      expect(errorLines(r)).toEqual([
        '::error::nix was not found on PATH: install Nix (2.8 or later, or Lix) before this step'
      ])
      // A Nix older than 2.8 (stand-in: only its version line matters here).
      const oldNix = binDirWith({ git: '/usr/bin/git', nix: '#!/bin/sh\necho "nix (Nix) 2.3.16"\n' })
      const old = await runAction(fleet.fleetDir, { 'dry-run': 'true' }, { PATH: oldNix })
      expect(errorLines(old)).toEqual([
        '::error::nix (Nix) 2.3.16 is too old: nixos-fleet-update needs Nix 2.8 or later (or Lix)'
      ])
      expect(fleet.lock()).toBe(lock)
    } finally {
      fleet.remove()
    }
  })

  test('a flake that does not evaluate at all: the error names the flake and carries Nix message', async () => {
    const { fleet } = fleetWith(s => s)
    try {
      fs.appendFileSync(path.join(fleet.fleetDir, 'flake.nix'), '\n{ broken = ; }\n')
      git(fleet.fleetDir, ['commit', '-qam', 'break the flake'])
      const r = await runAction(fleet.fleetDir, { 'dry-run': 'true' })
      expect(r.exitCode).toBe(1)
      expect(r.log).toContain(`::error::Cannot list nixosConfigurations of flake ${fleet.fleetDir}:`)
      expect(r.log).toMatch(/syntax error/)
    } finally {
      fleet.remove()
    }
  })

  test('an input that cannot be fetched any more: the update fails clearly and flake.lock is untouched', async () => {
    const { fleet, salt, base } = fleetWith(s => s)
    try {
      const lock = fleet.lock()
      fleet.bump(uniquePackageSet({ ...base, release: '24.11' }, salt))
      fs.rmSync(fleet.pkgsDir, { recursive: true, force: true })
      const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', build: 'false' })
      expect(r.exitCode).toBe(1)
      expect(r.log).toContain(`::error::Updating ${fleet.fleetDir}/flake.lock failed (nix exit code 1):`)
      expect(fleet.lock()).toBe(lock)
    } finally {
      fleet.remove()
    }
  })

  test('a host failing before and after is reported as failing, not as a regression', async () => {
    const { fleet, salt, base } = fleetWith(s => ({ ...s, failing: ['rsync'] }))
    try {
      const after = uniquePackageSet(
        {
          ...base,
          failing: ['rsync'],
          packages: base.packages.map(p => (p.name === 'curl' ? { ...p, version: '8.8.0' } : p))
        },
        salt
      )
      fleet.bump(after)
      const r = await runAction(fleet.fleetDir, { 'dry-run': 'true' })
      expect(r.exitCode).toBe(0)
      expect(JSON.parse(r.outputs['failed-hosts'])).toEqual(['db'])
      expect(JSON.parse(r.outputs['regressed-hosts'])).toEqual([])
      expect(r.outputs.report).toContain('| db | ⚠️ failing |')
      expect(r.outputs.report).toContain('| web | ✅ updated | 1 |')
    } finally {
      fleet.remove()
    }
  })

  test('a host that failed before and builds after is "fixed": reported, not a failure', async () => {
    const { fleet, salt, base } = fleetWith(s => ({ ...s, failing: ['rsync'] }))
    try {
      fleet.bump(uniquePackageSet({ ...base, failing: [] }, salt))
      const r = await runAction(fleet.fleetDir, { 'dry-run': 'true' })
      expect(r.exitCode).toBe(0)
      expect(JSON.parse(r.outputs['failed-hosts'])).toEqual([])
      expect(r.outputs.report).toContain('| db | 🔧 fixed |')
      expect(r.outputs.report).toContain('db (fixed): build failed before the update')
    } finally {
      fleet.remove()
    }
  })

  test('a build that runs past its time-out is killed, named, and the other hosts still build', async () => {
    const { fleet, salt, base } = fleetWith(s => s)
    try {
      fleet.bump(uniquePackageSet({ ...base, slow: ['rsync'] } as PackageSet, salt))
      const start = Date.now()
      const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', 'nix-args': '--option timeout 2' })
      expect(Date.now() - start).toBeLessThan(25000)
      expect(r.exitCode).toBe(1)
      expect(JSON.parse(r.outputs['regressed-hosts'])).toEqual(['db'])
      const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8')) as {
        hosts: { host: string; status: string; after?: { error?: string } }[]
      }
      expect(report.hosts.find(h => h.host === 'db')?.after?.error).toMatch(
        /failed to build: rsync-3\.2\.7 \(timed out\)/
      )
      expect(report.hosts.find(h => h.host === 'web')?.status).toBe('unchanged')
    } finally {
      fleet.remove()
    }
  })
})

describe('a builder that cannot be reached', () => {
  test('fails the step instead of blaming every host', async () => {
    const { fleet, salt, base } = fleetWith(s => s)
    try {
      fleet.bump(uniquePackageSet({ ...base, release: '24.11' }, salt))
      const r = await runAction(fleet.fleetDir, {
        'dry-run': 'true',
        'nix-args': "--max-jobs 0 --builders 'ssh://nosuchbuilder.invalid x86_64-linux'"
      })
      expect(r.exitCode).toBe(1)
      expect(errorLines(r).join('\n')).toContain('The build stopped without a failing derivation')
      expect(r.log).toMatch(/nosuchbuilder\.invalid/)
      expect(r.outputs['failed-hosts']).toBeUndefined()
    } finally {
      fleet.remove()
    }
  })
})

describe('hostile input', () => {
  test('host names and build logs with shell, Markdown and HTML text: nothing runs, the report stays intact', async () => {
    const marker = path.join(os.tmpdir(), `nfu-pwned-${process.pid}`)
    const evil = [
      `we\`touch ${marker}\`b`,
      `$(touch ${marker})|@everyone <img src=x onerror=alert(1)>`,
      'x'.repeat(300)
    ]
    const hosts: HostSpec[] = [
      ...evil.map((name, i) => ({
        name,
        expr: `pkgs.lib.mkSystem { hostName = "evil${i}"; packages = [ "curl" "rsync" ]; }`
      })),
      { name: 'web', packages: ['curl'] }
    ]
    const { fleet, salt, base } = fleetWith(s => s, hosts)
    try {
      fleet.bump(
        uniquePackageSet(
          {
            ...base,
            failing: ['rsync'],
            noisy: ['rsync'],
            packages: base.packages.map(p => (p.name === 'curl' ? { ...p, version: '8.8.0' } : p))
          } as PackageSet,
          salt
        )
      )
      const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', 'fail-on-regression': 'false' })
      expect(r.exitCode).toBe(0)
      expect(fs.existsSync(marker)).toBe(false)
      expect(JSON.parse(r.outputs.hosts)).toEqual([...evil, 'web'].sort())
      const md = r.outputs.report
      // Each table row has exactly the table's 9 pipes; no raw mention, no raw HTML from the input.
      const rows = md
        .split('\n')
        .filter(l => l.startsWith('| ') && !l.startsWith('| host') && !l.startsWith('| input'))
      expect(rows.length).toBeGreaterThanOrEqual(4)
      for (const row of rows.filter(
        l => l.includes('updated') || l.includes('regressed') || l.includes('unchanged')
      )) {
        expect(row.split('|').length - 1).toBe(9)
      }
      // Every code block is closed: the fences pair up. Outside them: no raw mention, no raw HTML from the input
      // (inside a code block both are shown as text).
      const fences = md.split('\n').filter(l => /^`{3,}/.test(l))
      expect(fences.length % 2).toBe(0)
      expect(fences.length).toBeGreaterThanOrEqual(2)
      const outside = md.split(/^(`{3,}).*\n[\s\S]*?^\1$/m).join('')
      expect(outside).not.toMatch(/@everyone/)
      expect(outside).not.toContain('<img')
      expect(outside).not.toContain('<script>')
      expect(md).toContain('@\u2060everyone')
      expect(md).not.toContain('\ufffd\ufffd\ufffd\ufffd')
      expect(md.length).toBeLessThanOrEqual(60000)
    } finally {
      fleet.remove()
      fs.rmSync(marker, { force: true })
    }
  })
})

describe('git faults', () => {
  function bareWithBranch(): { dir: string; bare: string; work: string; a: string; b: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-gitfault-'))
    const bare = path.join(dir, 'r.git')
    const work = path.join(dir, 'w')
    const a = bareWithClone(bare, work)
    git(work, ['push', '-q', 'origin', 'HEAD:main', 'HEAD:update'])
    fs.writeFileSync(path.join(work, 'flake.lock'), '{"x":1}\n')
    git(work, ['commit', '-qam', 'b'])
    const b = git(work, ['rev-parse', 'HEAD']).trim()
    git(work, ['push', '-q', 'origin', 'HEAD:refs/heads/someone-else'])
    return { dir, bare, work, a, b }
  }

  test('a push whose lease is stale (the branch moved since it was fetched) is refused', async () => {
    const t = bareWithBranch()
    try {
      const g = await Git.create(t.work)
      // The branch is at a; someone moves it to b; our push still expects a.
      execFileSync('git', ['--git-dir', t.bare, 'update-ref', 'refs/heads/update', t.b])
      const r = await g.pushWithLease('origin', t.a, 'update', t.a)
      expect(r.exitCode).not.toBe(0)
      expect(`${r.stdout}${r.stderr}`).toMatch(/stale info|rejected/)
      expect(
        execFileSync('git', ['--git-dir', t.bare, 'rev-parse', 'update'], { encoding: 'utf8' }).trim()
      ).toBe(t.b)
      // A branch that must not exist yet is not overwritten either.
      const r2 = await g.pushWithLease('origin', t.a, 'update', undefined)
      expect(r2.exitCode).not.toBe(0)
    } finally {
      fs.rmSync(t.dir, { recursive: true, force: true })
    }
  })

  test("an unreachable remote fails with git's message and without waiting for a prompt", async () => {
    const t = bareWithBranch()
    try {
      git(t.work, ['remote', 'set-url', 'origin', 'http://127.0.0.1:9/nowhere.git'])
      const g = await Git.create(t.work)
      await expect(g.remoteBranchSha('origin', 'main')).rejects.toThrow(
        /git ls-remote failed \(exit 128\) with remote 'origin' \(http:\/\/127\.0\.0\.1:9\/nowhere\.git\): .*(Failed to connect|Connection refused|Could not connect)/
      )
    } finally {
      fs.rmSync(t.dir, { recursive: true, force: true })
    }
  })
})
