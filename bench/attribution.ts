/**
 * What naming the breaking input costs: the benchmark's fleet (bench/fleet.ts) gets a second input, `tools`, that
 * one host's system uses; the update bumps both the package set (every host changes) and `tools` (it breaks that
 * host). The action runs once, as a dry run with its defaults (attribution on, hold-back: regressing), and this
 * prints the phases' times and the extra builds: each changed input held back in turn for the regressed host, and
 * the proposed lock built for every host.
 *   bench/attribution.sh --sizes 10        (default: 50 hosts)
 */
import { runnerLog } from '../src/log/runner'
import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as path from 'path'
import { run } from '../src/main'
import { createFleet } from './fleet'

function git(cwd: string, args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe']
  })
}

/** Adds the `tools` input (a repository with one file) and a check that the first host's system runs on it. */
function addTools(fleetDir: string, root: string, host: string, salt: string): string {
  const tools = path.join(root, 'tools')
  fs.mkdirSync(tools)
  fs.writeFileSync(path.join(tools, 'value'), `ok ${salt}`)
  git(tools, ['init', '-q', '-b', 'main'])
  git(tools, ['add', '-A'])
  git(tools, ['commit', '-qm', 'tools 1'])
  const file = path.join(fleetDir, 'flake.nix')
  let text = fs.readFileSync(file, 'utf8')
  text = text
    .replace(
      '\n  outputs = { self, pkgs }:',
      `\n  inputs.tools = { url = "git+file://${tools}"; flake = false; };\n  outputs = { self, pkgs, tools }:`
    )
    .replace(
      '      mk = pkgs.lib.mkSystem;',
      `      mk = pkgs.lib.mkSystem;
      check = builtins.derivation {
        name = "schema-check";
        system = "x86_64-linux";
        builder = "/bin/sh";
        PATH = "/usr/bin:/bin";
        text = builtins.readFile "\${tools}/value";
        args = [ "-c" "case \\"$text\\" in *broken*) exit 1;; esac; mkdir -p $out" ];
      };`
    )
    .replace(`${JSON.stringify(host)} = mk { `, `${JSON.stringify(host)} = mk { extraPackages = [ check ]; `)
  fs.writeFileSync(file, text)
  git(fleetDir, ['add', '-A'])
  execFileSync('nix', ['flake', 'lock'], { cwd: fleetDir, stdio: ['ignore', 'pipe', 'pipe'] })
  git(fleetDir, ['add', '-A'])
  git(fleetDir, ['commit', '-qm', 'tools input'])
  fs.writeFileSync(path.join(tools, 'value'), `broken ${salt}`)
  git(tools, ['commit', '-qam', 'tools 2: breaks the check'])
  return tools
}

async function measure(repo: string, size: number): Promise<void> {
  const parent = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'nfu-attribution-'))
  const fleet = createFleet(repo, parent, size, 'attribution', 'nix')
  addTools(fleet.fleetDir, fleet.root, fleet.hosts[0], fleet.salt)
  let log = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = (chunk: string | Uint8Array): boolean => {
    log += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString()
    return true
  }
  const cwd = process.cwd()
  process.env.GITHUB_WORKSPACE = fleet.fleetDir
  process.chdir(fleet.fleetDir)
  const start = Date.now()
  let outcome: Awaited<ReturnType<typeof run>>
  try {
    outcome = await run({
      log: runnerLog(),
      inputs: name => ({ 'dry-run': 'true', 'fail-on-regression': 'false' })[name as string]
    })
  } finally {
    process.stdout.write = write
    process.chdir(cwd)
  }
  const wall = (Date.now() - start) / 1000
  const report = JSON.parse(outcome.json ?? '{}') as {
    timings?: { phase: string; seconds: number }[]
    heldBack?: { input: string; hosts: { host: string }[] }[]
  }
  const phase = (name: string): string =>
    report.timings?.find(t => t.phase === name)?.seconds.toFixed(1) ?? '–'
  const attributionBuilds = (log.match(/^Held back .*: \d+ of \d+ regressed hosts build/gm) ?? []).length
  console.log(
    [
      `hosts: ${size} (1 regressed), result: ${outcome.result}, wall: ${wall.toFixed(1)} s`,
      `  build before: ${phase('Build before the update')} s, build after: ${phase('Build after the update')} s`,
      `  find the inputs that break hosts: ${phase('Find the inputs that break hosts')} s (${attributionBuilds} builds of the regressed host, then the proposed lock for all ${size} hosts)`,
      `  held back: ${(report.heldBack ?? []).map(h => `${h.input} (${h.hosts.map(x => x.host).join(', ')})`).join(', ') || 'none'}`
    ].join('\n')
  )
  fs.rmSync(parent, { recursive: true, force: true })
}

async function main(): Promise<void> {
  const repo = process.env.NFU_BENCH_REPO ?? path.resolve(__dirname, '../..')
  const i = process.argv.indexOf('--sizes')
  const sizes = (i > 0 ? process.argv[i + 1] : '50').split(',').map(Number)
  for (const size of sizes) await measure(repo, size)
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
