import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { runAction } from './fixtures/action'
import { Fleet, createFleet, examplePackageSets, uniquePackageSet } from '../testkit/fleet'

/** A tmpfs of 64 KiB filled to the last byte: writes fail with ENOSPC as on a full RUNNER_TEMP. Needs root. */
function fullDisk(): { dir: string; remove: () => void } | string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-full-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' })
  } catch (e) {
    fs.rmdirSync(dir)
    return `cannot mount a tmpfs (${String(e).split('\n')[0]})`
  }
  // Files that exist, as the runner creates them, before the disk is full.
  for (const f of ['output', 'summary']) fs.writeFileSync(path.join(dir, f), '')
  try {
    fs.writeFileSync(path.join(dir, 'fill'), Buffer.alloc(1 << 20))
  } catch {
    // Full now.
  }
  return {
    dir,
    remove: () => {
      execFileSync('umount', [dir])
      fs.rmdirSync(dir)
    }
  }
}

function reportJsonIn(runnerTemp: string): string | undefined {
  for (const d of fs.readdirSync(runnerTemp).filter(n => n.startsWith('nixos-fleet-update-'))) {
    const file = path.join(runnerTemp, d, 'report.json')
    if (fs.existsSync(file)) return file
  }
  return undefined
}

describe('results are written independently of each other', () => {
  let fleet: Fleet
  const inputs = { 'dry-run': 'true', build: 'false' }
  beforeAll(() => {
    const { before } = examplePackageSets()
    fleet = createFleet(uniquePackageSet(before, `results-${process.pid}-${Date.now()}`), [
      { name: 'web', packages: ['curl'] }
    ])
  })
  afterAll(() => fleet.remove())

  test('no space for report.json: the outputs and the summary are still written, the path is named', async () => {
    const disk = fullDisk()
    if (typeof disk === 'string') {
      console.log(`Skipping the full-disk case: ${disk}`)
      return
    }
    try {
      const r = await runAction(fleet.fleetDir, inputs, { RUNNER_TEMP: disk.dir })
      expect(r.exitCode).toBe(1)
      const json = r.outputs['report-json']
      expect(json.startsWith(`${disk.dir}/nixos-fleet-update-`)).toBe(true)
      expect(r.log).toContain(`::error::Could not write the JSON report to ${json}: ENOSPC`)
      // The copy of flake.lock that a stopped step would restore from cannot be kept either: said, not fatal.
      expect(r.log).toContain(`::warning::Could not keep a copy of flake.lock in ${path.dirname(json)}`)
      expect(r.outputs.changed).toBe('false')
      expect(JSON.parse(r.outputs.hosts)).toEqual(['web'])
      expect(r.outputs['pr-operation']).toBe('none')
      expect(r.summary).toContain('flake.lock is up to date')
    } finally {
      disk.remove()
    }
  })

  /** A runner file on the full disk. */
  async function withFullFile(
    name: 'output' | 'summary',
    fn: (file: string) => Promise<void>
  ): Promise<void> {
    const disk = fullDisk()
    if (typeof disk === 'string') {
      console.log(`Skipping the full-disk case: ${disk}`)
      return
    }
    try {
      await fn(path.join(disk.dir, name))
    } finally {
      disk.remove()
    }
  }

  test('a summary file that cannot be written: the outputs and report.json are, and the file is named', () =>
    withFullFile('summary', async file => {
      const r = await runAction(fleet.fleetDir, inputs, { GITHUB_STEP_SUMMARY: file })
      expect(r.exitCode).toBe(1)
      expect(r.log).toContain(`::error::Could not write the job summary to ${file}: ENOSPC`)
      expect(r.outputs.changed).toBe('false')
      expect(fs.existsSync(r.outputs['report-json'])).toBe(true)
    }))

  test('an output file that cannot be written: the summary and report.json are, and the file is named', () =>
    withFullFile('output', async file => {
      const r = await runAction(fleet.fleetDir, inputs, { GITHUB_OUTPUT: file })
      expect(r.exitCode).toBe(1)
      expect(r.log).toContain(`::warning::Could not write the output 'changed' to ${file}: ENOSPC`)
      expect(r.log).toContain(`::error::Could not write the output 'hosts' to ${file}: ENOSPC`)
      expect(r.log).toContain(`; the output 'changed' to ${file}: ENOSPC`)
      expect(r.summary).toContain('flake.lock is up to date')
      expect(reportJsonIn(r.runnerTemp)).toBeDefined()
    }))
})
