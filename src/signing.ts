import * as io from '@actions/io'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { InputError } from './errors'
import { runProcess } from './exec'
import { isOpenPgpKey, openPgpHome } from './openpgp'

const INPUT = "Input 'signing-key'"
const PUBLIC_KEY_LINE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-[a-z0-9]+|sk-[a-z0-9-]+@openssh\.com)\s+AAAA/
const ARMOR = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/

/**
 * The key as ssh-keygen reads it: LF line endings (a web form's CRLF breaks OpenSSH's parser), and the armor's
 * body on lines of its own where a form collapsed them into one line or into literal `\n`. Throws an InputError
 * naming what was pasted when the text cannot be a private key.
 */
export function normaliseSigningKey(raw: string): string {
  let text = raw.replace(/\r\n?/g, '\n').trim()
  if (!text.includes('\n') && text.includes('\\n')) text = text.split('\\n').join('\n').trim()
  const problem = signingKeyProblem(text)
  if (problem) throw new InputError(`${INPUT} ${problem}`)
  const m = ARMOR.exec(text) as RegExpExecArray
  // Headers such as `Proc-Type:` (encrypted PEM keys) keep their lines; every other word of the body is a
  // base64 line: a form that turned newlines into spaces gives the same words.
  const lines = m[2].split('\n').map(l => l.trim())
  const headers = lines.filter(l => /^[A-Za-z-]+:/.test(l))
  const body = lines
    .filter(l => !/^[A-Za-z-]+:/.test(l))
    .join(' ')
    .split(/\s+/)
    .filter(Boolean)
  const blank = headers.length > 0 ? [''] : []
  return [`-----BEGIN ${m[1]}-----`, ...headers, ...blank, ...body, `-----END ${m[1]}-----`].join('\n')
}

/** What is wrong with a text that should be an SSH private key, judged from its shape; undefined when nothing is. */
export function signingKeyProblem(text: string): string | undefined {
  const t = text.trim()
  if (PUBLIC_KEY_LINE.test(t) || /-----BEGIN (SSH2 |RSA |)PUBLIC KEY-----/.test(t)) {
    return 'holds a public key: signing needs the private key (the file without .pub, -----BEGIN OPENSSH PRIVATE KEY-----)'
  }
  if (/-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(t)) {
    return 'holds a PGP public key: signing needs the secret key (-----BEGIN PGP PRIVATE KEY BLOCK-----, gpg --armor --export-secret-keys)'
  }
  const begin = /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----/.exec(t)
  if (!begin) return 'is not an SSH private key: it must start with -----BEGIN OPENSSH PRIVATE KEY-----'
  if (!t.includes(`-----END ${begin[1]}-----`)) {
    return `is cut short: it has -----BEGIN ${begin[1]}----- but no -----END ${begin[1]}----- line`
  }
  return undefined
}

export interface SigningKeyCheck {
  /** The key, normalised as ssh-keygen and git need it. */
  key: string
  /** Its public key (`ssh-ed25519 AAAA… comment`), for the allowed-signers file of whoever verifies. */
  publicKey: string
}

/**
 * Checks that the signing key can sign without anyone typing anything: normalises it, then asks ssh-keygen for
 * its public key. Throws an InputError saying which case it is (passphrase, damaged, public key, …). Meant to run
 * before anything is built; `scratchDir` is where the key is written for ssh-keygen (removed again).
 */
export async function checkSigningKey(
  raw: string,
  scratchDir?: string,
  passphrase = ''
): Promise<SigningKeyCheck> {
  if (isOpenPgpKey(raw)) {
    // Imported into a keyring of its own in the scratch directory and signed with once; removed again.
    const dir = fs.mkdtempSync(path.join(scratchDir ?? os.tmpdir(), 'nixos-fleet-update-keycheck-'))
    try {
      const ring = await openPgpHome(raw, passphrase, path.join(dir, 'gnupg'))
      await ring.close()
      return { key: raw, publicKey: ring.signingKey }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  const key = normaliseSigningKey(raw)
  const sshKeygen = await io.which('ssh-keygen', false)
  if (!sshKeygen) {
    throw new Error(
      `${INPUT} is set, and signing needs ssh-keygen (OpenSSH) on PATH: install openssh-client before this step`
    )
  }
  const dir = fs.mkdtempSync(path.join(scratchDir ?? os.tmpdir(), 'nixos-fleet-update-keycheck-'))
  try {
    fs.chmodSync(dir, 0o700)
    const file = path.join(dir, 'key')
    // OpenSSH needs the END line terminated.
    fs.writeFileSync(file, `${key}\n`, { mode: 0o600 })
    // -P '' : an encrypted key fails instead of waiting for a passphrase.
    const r = await runProcess(sshKeygen, ['-y', '-P', '', '-f', file])
    if (r.exitCode === 0 && r.stdout.trim() !== '') return { key, publicKey: r.stdout.trim() }
    throw new InputError(`${INPUT} ${keygenProblem(r.stderr.split(file).join('the key'))}`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** ssh-keygen's complaint about a private key, as a sentence that says what to do. */
export function keygenProblem(stderr: string): string {
  const said = stderr.trim().split('\n').slice(-1)[0] ?? ''
  if (/incorrect passphrase|passphrase/i.test(said)) {
    return "is protected by a passphrase, which nobody can type in CI: store a copy without one (ssh-keygen -p -N '' -f KEY)"
  }
  if (/libcrypto|invalid format|not a key|unsupported|error in/i.test(said)) {
    return `cannot be read by ssh-keygen: the key is damaged (lines lost or changed when it was pasted?) or of a kind OpenSSH does not know (ssh-keygen: ${said})`
  }
  return `was refused by ssh-keygen: ${said || 'no message'}`
}
