import { InputError } from '../src/errors'
import { checkCommitViaApi } from '../src/pipeline/api-commit'

describe('checkCommitViaApi', () => {
  test('off: anything goes', () => {
    expect(() => checkCommitViaApi(false, 'forgejo', 'key')).not.toThrow()
  })
  test('on GitHub without a signing key', () => {
    expect(() => checkCommitViaApi(true, 'github', undefined)).not.toThrow()
  })
  test.each<['github' | 'forgejo', string | undefined, RegExp]>([
    ['forgejo', undefined, /Input 'commit-via-api' works on GitHub only/],
    ['github', '-----BEGIN OPENSSH PRIVATE KEY-----', /Inputs 'commit-via-api' and 'signing-key' both sign/]
  ])('%s with key %j is refused', (forge, key, message) => {
    expect(() => checkCommitViaApi(true, forge, key)).toThrow(InputError)
    expect(() => checkCommitViaApi(true, forge, key)).toThrow(message)
  })
})
