import { compareVersions, parseDrvName, storePathName, versionComponents } from '../src/nix/names'

// Every expected value below was read back from Nix 2.8 itself (builtins.parseDrvName, builtins.splitVersion and
// builtins.compareVersions through nix-instantiate --eval), so the tables hold Nix's answers, not the code's.

describe('storePathName', () => {
  test.each([
    ['/nix/store/ci0pqjy4956pj7hqldym0l3c3yym7gbc-openssl-3.0.14', 'openssl-3.0.14'],
    ['/nix/store/3bb1sscn09y73impz896wf9i7hfjpfvl-rsync-3.2.7.drv', 'rsync-3.2.7.drv'],
    ['/nix/store/4a5d3gdrz331ilmr9scnhn6d6dfx360w-nixos-system-web-24.05', 'nixos-system-web-24.05'],
    ['ci0pqjy4956pj7hqldym0l3c3yym7gbc-openssl-3.0.14', 'openssl-3.0.14'],
    ['/gnu/store/v7h9g3bh0n2m4fww968qw16s7f8aavcy-glibc-2.39-52', 'glibc-2.39-52'],
    // `e`, `o`, `t` and `u` are not in Nix's base-32 alphabet, so this is no store path hash.
    ['/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-foo', 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-foo'],
    ['/nix/store/short-hash-foo', 'short-hash-foo'],
    ['/nix/store/v7h9g3bh0n2m4fww968qw16s7f8aavcyglibc', 'v7h9g3bh0n2m4fww968qw16s7f8aavcyglibc']
  ])('%s → %s', (path, name) => {
    expect(storePathName(path)).toBe(name)
  })
})

describe('parseDrvName', () => {
  test.each([
    ['openssl-3.0.14', 'openssl', '3.0.14'],
    ['xorg-server-21.1.13', 'xorg-server', '21.1.13'],
    ['system-path', 'system-path', ''],
    ['linux-6.6.30-modules', 'linux', '6.6.30-modules'],
    ['hello-.5', 'hello', '.5'],
    ['foo-bar-1a', 'foo-bar', '1a'],
    ['nixos-system-web-24.05', 'nixos-system-web', '24.05'],
    ['nixos-system-web-24.05.20240531.abcdef', 'nixos-system-web', '24.05.20240531.abcdef'],
    ['python3.11-requests-2.31.0', 'python3.11-requests', '2.31.0'],
    ['perl5.38.2-Test-Fatal-0.017', 'perl5.38.2-Test-Fatal', '0.017'],
    ['glibc-2.39-52-bin', 'glibc', '2.39-52-bin'],
    ['unit-systemd-fsck-.service', 'unit-systemd-fsck', '.service'],
    ['etc-os-release', 'etc-os-release', ''],
    ['firmware-_x', 'firmware', '_x'],
    ['foo-ébar', 'foo', 'ébar'],
    ['foo--1', 'foo', '-1'],
    ['-1', '', '1'],
    ['a-', 'a-', ''],
    ['', '', '']
  ])('%j → name %j, version %j', (full, name, version) => {
    expect(parseDrvName(full)).toEqual({ name, version })
  })
})

describe('versionComponents', () => {
  test.each([
    ['3.0.14', ['3', '0', '14']],
    ['2.39-52-bin', ['2', '39', '52', 'bin']],
    ['1.0pre3', ['1', '0', 'pre', '3']],
    ['', []],
    ['..1--a', ['1', 'a']],
    ['6.6.30-modules', ['6', '6', '30', 'modules']],
    ['2.3a', ['2', '3', 'a']],
    ['1.2.3rc4.5', ['1', '2', '3', 'rc', '4', '5']],
    ['0-unstable-2024-05-31', ['0', 'unstable', '2024', '05', '31']],
    ['5.2p26', ['5', '2', 'p', '26']],
    ['a.b', ['a', 'b']],
    ['007', ['007']]
  ])('%j → %j', (version, parts) => {
    expect(versionComponents(version)).toEqual(parts)
  })
})

describe('compareVersions', () => {
  test.each([
    ['1.0', '2.3', -1],
    ['2.1', '2.3', -1],
    ['2.3', '2.3', 0],
    ['2.5', '2.3', 1],
    ['3.1', '2.3', 1],
    ['2.3.1', '2.3', 1],
    ['2.3.1', '2.3a', 1],
    ['2.3a', '2.3.1', -1],
    ['2.3pre1', '2.3', -1],
    ['2.3pre3', '2.3pre12', -1],
    ['2.3a', '2.3c', -1],
    ['2.3pre1', '2.3c', -1],
    ['2.3pre1', '2.3q', -1],
    ['1.0pre', '1.0', -1],
    ['1.0', '1.0pre', 1],
    ['1pre', '1a', -1],
    ['pre', '', -1],
    ['', 'pre', 1],
    ['pre', 'pre', 0],
    ['1.0', '1.0.0', -1],
    ['1.0.0', '1.0', 1],
    ['1.0.0', '1.0.0.0', -1],
    ['007', '7', 0],
    ['1.01', '1.1', 0],
    ['1.010', '1.9', 1],
    ['1.2.3', '1.2.10', -1],
    ['1.2.10', '1.2.3', 1],
    ['2.39-52', '2.39-100', -1],
    ['3.0.13', '3.0.14', -1],
    ['6.6.30-modules', '6.6.31-modules', -1],
    ['0-unstable-2024-05-31', '0-unstable-2024-06-01', -1],
    ['20240531', '20240601', -1],
    ['1a', '1', 1],
    ['1', '1a', -1],
    ['1.0-rc1', '1.0', 1],
    ['1.0', '1.0-rc1', -1],
    ['alpha', 'beta', -1],
    ['1.0alpha', '1.0beta', -1],
    ['a', 'b', -1],
    ['b', 'a', 1],
    ['2.3', '2.3.', 0],
    ['1.0', '1-0', 0],
    ['0', '', 1],
    ['', '0', -1],
    ['a', '', 1],
    ['', 'a', -1],
    ['', '', 0]
  ])('compareVersions(%j, %j) = %d', (a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected)
  })
})
