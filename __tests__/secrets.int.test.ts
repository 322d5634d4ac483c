import { createHash } from 'crypto'
import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as path from 'path'
import { runAction } from './fixtures/action'
import { Fleet, createFleet, examplePackageSets, uniquePackageSet } from '../testkit/fleet'

/**
 * A host whose system depends on a fixed-output derivation, as an updated upstream input could bring one: it asks
 * for the runner's secrets through impureEnvVars and writes whatever it gets to `probe`, outside the store.
 */
function probeHost(probe: string, salt: string, names: string[]): string {
  const hash = createHash('sha256').update(salt).digest('hex')
  return `{ config.system.build.toplevel = builtins.derivation {
    system = "x86_64-linux";
    name = "probe-system";
    builder = "/bin/sh";
    fod = builtins.derivation {
      system = "x86_64-linux";
      name = "upstream-source";
      builder = "/bin/sh";
      impureEnvVars = ${`[ ${names.map(n => JSON.stringify(n)).join(' ')} ]`};
      outputHashMode = "flat";
      outputHashAlgo = "sha256";
      outputHash = "${hash}";
      args = [ "-c" "/usr/bin/env > ${probe}; printf %s ${salt} > $out" ];
    };
    args = [ "-c" "/bin/mkdir $out; /bin/ln -s $fod $out/fod" ];
  }; }`
}

describe('secrets and child processes', () => {
  let fleet: Fleet | undefined
  afterAll(() => fleet?.remove())

  test('a fixed-output derivation built by the action sees none of the runner secrets', async () => {
    const salt = `secrets-${process.pid}-${Date.now()}`
    const { before } = examplePackageSets()
    const probeDir = fs.mkdtempSync(path.join('/tmp', 'nfu-probe-'))
    const probe = path.join(probeDir, 'env')
    const keyFile = path.join(probeDir, 'key')
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'probe', '-f', keyFile])
    const signingKey = fs.readFileSync(keyFile, 'utf8')
    const secrets: Record<string, string> = {
      INPUT_TOKEN: `tok-${salt}`,
      ACTIONS_RUNTIME_TOKEN: `runtime-${salt}`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: `oidc-${salt}`,
      ACTIONS_ID_TOKEN_REQUEST_URL: `https://oidc.invalid/${salt}`,
      GITHUB_TOKEN: `gh-${salt}`
    }
    const names = [...Object.keys(secrets), 'INPUT_SIGNING-KEY', 'LANG']
    fleet = createFleet(uniquePackageSet(before, salt), [
      { name: 'web', packages: ['curl'] },
      { name: 'edge', expr: probeHost(probe, salt, names) }
    ])
    try {
      const { INPUT_TOKEN: token, ...runnerSecrets } = secrets
      const r = await runAction(
        fleet.fleetDir,
        { 'dry-run': 'true', token, 'signing-key': signingKey },
        { ...runnerSecrets, LANG: 'C.UTF-8' }
      )
      expect(r.exitCode).toBe(0)
      // The derivation was built by this run, and impureEnvVars reached the builder: LANG, which is allowed.
      const seen = fs.readFileSync(probe, 'utf8')
      expect(seen).toContain('LANG=C.UTF-8')
      // Nix sets a listed variable that its caller does not have to the empty string.
      const value = (name: string): string | undefined =>
        seen
          .split('\n')
          .find(l => l.startsWith(`${name}=`))
          ?.slice(name.length + 1)
      for (const [name, secret] of Object.entries(secrets)) {
        expect([name, value(name) ?? '']).toEqual([name, ''])
        expect(seen).not.toContain(secret)
      }
      expect(value('INPUT_SIGNING-KEY') ?? '').toBe('')
      expect(seen).not.toContain(signingKey.split('\n')[1])
    } finally {
      fs.rmSync(probeDir, { recursive: true, force: true })
    }
  })
})
