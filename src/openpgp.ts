import * as io from '@actions/io'
import { spawnSync } from 'child_process'
import * as fs from 'fs'
import * as path from 'path'
import { InputError } from './errors'
import { runProcess } from './exec'

const INPUT = "Input 'signing-key'"

/** Whether the text is an armored OpenPGP secret key (else it is taken for an SSH key). */
export function isOpenPgpKey(text: string): boolean {
  return /-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(text)
}

/** A keyring of its own, holding only the signing key, with the passphrase (if any) given to its agent. */
export interface OpenPgpHome {
  /** GNUPGHOME for gpg and for git, which runs gpg to sign. */
  home: string
  /** Fingerprint of the key that signs (a signing subkey's, with `!`, when the primary key cannot sign). */
  signingKey: string
  /** The git options that sign a commit with it. */
  gitConfig: string[]
  /** Stops the keyring's agent and removes the keyring. */
  close(): Promise<void>
  /** The same, synchronously (for cleanup that cannot wait). */
  closeSync(): void
}

async function gpgBinary(): Promise<string> {
  const gpg = await io.which('gpg', false)
  if (!gpg) {
    throw new Error(
      `${INPUT} holds an OpenPGP key, and signing with it needs gpg (GnuPG) on PATH: install gnupg before this step`
    )
  }
  return gpg
}

/**
 * Imports the armored secret key into a new keyring at `home` (never the user's), gives the agent the passphrase
 * through gpg-preset-passphrase's standard input (never an argument), and checks that it signs without anyone
 * typing anything. Throws an InputError saying what is wrong (no secret key, no key that can sign, a passphrase
 * needed or wrong).
 */
export async function openPgpHome(armored: string, passphrase: string, home: string): Promise<OpenPgpHome> {
  const gpg = await gpgBinary()
  fs.mkdirSync(home, { recursive: true, mode: 0o700 })
  fs.chmodSync(home, 0o700)
  // pinentry-mode error: gpg fails at once instead of waiting for a passphrase nobody can type.
  fs.writeFileSync(path.join(home, 'gpg.conf'), 'batch\nno-tty\npinentry-mode error\n', { mode: 0o600 })
  fs.writeFileSync(path.join(home, 'gpg-agent.conf'), 'allow-preset-passphrase\n', { mode: 0o600 })
  const env = { GNUPGHOME: home }
  const run = (args: string[], input?: string): ReturnType<typeof runProcess> =>
    runProcess(gpg, ['--homedir', home, ...args], { env, input })
  const close = async (): Promise<void> => {
    const gpgconf = await io.which('gpgconf', false)
    if (gpgconf) await runProcess(gpgconf, ['--homedir', home, '--kill', 'gpg-agent'], { env })
    fs.rmSync(home, { recursive: true, force: true })
  }
  try {
    const imported = await run(['--import'], armored.replace(/\r\n?/g, '\n').trim() + '\n')
    if (imported.exitCode !== 0) {
      throw new InputError(`${INPUT} is not an OpenPGP key gpg can import: ${lastLine(imported.stderr)}`)
    }
    const listing = await run(['--list-secret-keys', '--with-colons', '--with-keygrip', '--fixed-list-mode'])
    const key = signingSubkey(listing.stdout)
    if (!key) {
      throw new InputError(
        `${INPUT} holds no OpenPGP secret key that can sign (a public key, or a key without the signing capability)`
      )
    }
    if (passphrase !== '') {
      const preset = await presetBinary()
      const r = await runProcess(preset, ['--homedir', home, '--preset', key.keygrip], {
        env,
        input: passphrase
      })
      if (r.exitCode !== 0) throw new Error(`gpg-preset-passphrase failed: ${lastLine(r.stderr)}`)
    }
    const signed = await run(['--local-user', `${key.fingerprint}!`, '--detach-sign', '--armor'], 'check\n')
    if (signed.exitCode !== 0) {
      throw new InputError(
        passphrase === ''
          ? `${INPUT} is an OpenPGP key protected by a passphrase: put it in 'signing-key-passphrase'`
          : `${INPUT}: the key does not sign with the passphrase of 'signing-key-passphrase' (is it the right one?): ${lastLine(signed.stderr)}`
      )
    }
    return {
      home,
      signingKey: `${key.fingerprint}!`,
      gitConfig: ['-c', 'gpg.format=openpgp', '-c', `user.signingKey=${key.fingerprint}!`],
      close,
      closeSync: () => {
        spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], {
          env: { PATH: process.env.PATH ?? '', GNUPGHOME: home },
          stdio: 'ignore'
        })
        fs.rmSync(home, { recursive: true, force: true })
      }
    }
  } catch (e) {
    await close()
    throw e
  }
}

async function presetBinary(): Promise<string> {
  const onPath = await io.which('gpg-preset-passphrase', false)
  if (onPath) return onPath
  const gpgconf = await io.which('gpgconf', false)
  if (gpgconf) {
    const r = await runProcess(gpgconf, ['--list-dirs', 'libexecdir'])
    const file = path.join(r.stdout.trim(), 'gpg-preset-passphrase')
    if (r.exitCode === 0 && fs.existsSync(file)) return file
  }
  throw new Error(
    "'signing-key-passphrase' is set, and handing it to gpg needs gpg-preset-passphrase (part of GnuPG), which was not found"
  )
}

/**
 * The secret key or subkey that signs, from `gpg --list-secret-keys --with-colons --with-keygrip`: the primary
 * key when it has the `s` capability, else the first usable signing subkey.
 */
export function signingSubkey(colons: string): { fingerprint: string; keygrip: string } | undefined {
  const keys: { usable: boolean; fingerprint?: string; keygrip?: string }[] = []
  for (const line of colons.split('\n')) {
    const f = line.split(':')
    if (f[0] === 'sec' || f[0] === 'ssb') {
      // Field 2: validity (e expired, r revoked); field 12: capabilities; field 15: `#` for a stub without secret.
      const usable = !['e', 'r', 'd', 'i'].includes(f[1]) && f[11].includes('s') && f[14] !== '#'
      keys.push({ usable })
    } else if (f[0] === 'fpr' && keys.length > 0 && !keys[keys.length - 1].fingerprint) {
      keys[keys.length - 1].fingerprint = f[9]
    } else if (f[0] === 'grp' && keys.length > 0 && !keys[keys.length - 1].keygrip) {
      keys[keys.length - 1].keygrip = f[9]
    }
  }
  const k = keys.find(x => x.usable && x.fingerprint && x.keygrip)
  return k ? { fingerprint: k.fingerprint as string, keygrip: k.keygrip as string } : undefined
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter(l => l.trim() !== '')
      .pop() ?? 'no message'
  )
}

/** `signing-key-passphrase`: only for an OpenPGP key (an SSH key must have none). */
export function checkSigningKeyPassphrase(passphrase: string, signingKey: string | undefined): string {
  if (passphrase === '') return ''
  if (!signingKey || !isOpenPgpKey(signingKey)) {
    throw new InputError(
      "Input 'signing-key-passphrase' applies to an OpenPGP 'signing-key' only (an SSH key must have no passphrase)"
    )
  }
  return passphrase
}
