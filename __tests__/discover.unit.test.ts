import { hostsPerFlake, selectHosts } from '../src/pipeline/discover'
import { InputError } from '../src/settings'

const FLAKES = [
  { label: '.', names: ['db', 'web'] },
  { label: './lab', names: ['laptop', 'web'] }
]

describe('hostsPerFlake: `hosts` over several flakes', () => {
  test('a plain name selects that host in every flake that has it', () => {
    expect(hostsPerFlake(['web'], FLAKES)).toEqual([['web'], ['web']])
    expect(hostsPerFlake(['laptop', 'db'], FLAKES)).toEqual([['db'], ['laptop']])
  })

  test('flake#name selects the host of that flake only, however the directory is written', () => {
    for (const dir of ['./lab', 'lab', 'lab/', './lab/']) {
      expect(hostsPerFlake([`${dir}#web`], FLAKES)).toEqual([[], ['web']])
    }
    for (const dir of ['.', './', '']) expect(hostsPerFlake([`${dir}#web`], FLAKES)).toEqual([['web'], []])
  })

  test('a flake that none of the entries names gets an empty list; a host named twice is listed once', () => {
    expect(hostsPerFlake(['db', '.#db'], FLAKES)).toEqual([['db'], []])
  })

  test('an empty input gives every flake an empty list: all of its hosts', () => {
    expect(hostsPerFlake([], FLAKES)).toEqual([[], []])
  })

  test('a name in no flake, a host not in the named flake, a directory that is no flake: errors naming the input', () => {
    expect(() => hostsPerFlake(['mail'], FLAKES)).toThrow(
      new InputError(`Input 'hosts' names "mail", in nixosConfigurations of none of the flakes ., ./lab`)
    )
    expect(() => hostsPerFlake(['./lab#db'], FLAKES)).toThrow(
      new InputError(
        `Input 'hosts' names "./lab#db", not in nixosConfigurations of ./lab (it has: laptop, web)`
      )
    )
    expect(() => hostsPerFlake(['./labs#web'], FLAKES)).toThrow(
      new InputError(`Input 'hosts' names "./labs#web": "./labs" is not one of the flakes (., ./lab)`)
    )
    expect(() => hostsPerFlake(['mac'], FLAKES, 'darwinConfigurations')).toThrow(
      /darwinConfigurations of none/
    )
  })
})

describe('selectHosts', () => {
  test('hosts and exclude-hosts, sorted; an unknown host or nothing left is an input error', () => {
    expect(selectHosts(['web', 'db', 'ci-minimal'], [], /-minimal$/, '.', '-minimal$')).toEqual({
      all: ['web', 'db', 'ci-minimal'],
      hosts: ['db', 'web'],
      excluded: ['ci-minimal']
    })
    expect(() => selectHosts(['web'], ['mail'], /^$/, '.', '')).toThrow(/Input 'hosts' names "mail"/)
    expect(() => selectHosts(['web'], [], /web/, '.', 'web')).toThrow(/No hosts left to build in \./)
  })
})
