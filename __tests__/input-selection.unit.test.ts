import { InputError } from '../src/errors'
import { parseUpdateInputs, resolveInputSelection } from '../src/pipeline/input-selection'

const LOCK = JSON.stringify({
  nodes: {
    root: { inputs: { nixpkgs: 'nixpkgs', hm: 'hm', unstable: ['hm', 'nixpkgs'] } },
    nixpkgs: { locked: { type: 'github', rev: '1' } },
    hm: { inputs: { nixpkgs: 'hm-nixpkgs' }, locked: { type: 'github', rev: '2' } },
    'hm-nixpkgs': { locked: { type: 'github', rev: '3' } }
  },
  root: 'root',
  version: 7
})

describe('parseUpdateInputs', () => {
  test.each([
    ['', []],
    ['nixpkgs hm', ['nixpkgs', 'hm']],
    ['hm/nixpkgs', ['hm/nixpkgs']],
    ['!nixpkgs, !hm\n', ['!nixpkgs', '!hm']]
  ])('%j', (raw, entries) => expect(parseUpdateInputs(raw)).toEqual(entries))

  test.each([
    ['nixpkgs !hm', /mixes input names and '!' entries/],
    ['!hm/nixpkgs', /a '!' entry names a top-level input/],
    ['!', /not a flake input name/],
    ['!!hm', /not a flake input name/],
    ['nix!pkgs', /not a flake input name/],
    ['nixpkgs;reboot', /not a flake input name/]
  ])('%j is refused', (raw, message) => {
    expect(() => parseUpdateInputs(raw)).toThrow(InputError)
    expect(() => parseUpdateInputs(raw)).toThrow(message)
  })
})

describe('resolveInputSelection', () => {
  test('empty means all', () => expect(resolveInputSelection([], LOCK, 'flake.lock')).toEqual([]))
  test('names pass through, nested ones too', () =>
    expect(resolveInputSelection(['hm/nixpkgs', 'nixpkgs'], LOCK, 'flake.lock')).toEqual([
      'hm/nixpkgs',
      'nixpkgs'
    ]))
  test('! entries: the other top-level inputs, without those that follow another', () =>
    expect(resolveInputSelection(['!hm'], LOCK, 'flake.lock')).toEqual(['nixpkgs']))
  test('an input that follows another may be left out (it is not updated on its own anyway)', () =>
    expect(resolveInputSelection(['!unstable'], LOCK, 'flake.lock')).toEqual(['nixpkgs', 'hm']))
  test('unknown names are named', () =>
    expect(() => resolveInputSelection(['!hmm', '!nixpkgs'], LOCK, '/x/flake.lock')).toThrow(
      `Input 'update-inputs' names "hmm", not an input of /x/flake.lock (it has: nixpkgs, hm, unstable)`
    ))
  test('! entries without a committed lock file', () =>
    expect(() => resolveInputSelection(['!hm'], undefined, 'flake.lock')).toThrow(/no committed flake.lock/))
  test('names without a committed lock file are passed on', () =>
    expect(resolveInputSelection(['hm'], undefined, 'flake.lock')).toEqual(['hm']))
})
