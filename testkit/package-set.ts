/**
 * The fixture package set's format: examples/pkgs/flake.nix builds packages, units and warnings from a
 * packages.json of this shape. Shared by the tests and the benchmark, which both make fleets from it.
 */
/** A package of the fixture package set (examples/pkgs/flake.nix reads these from packages.json). */
export interface PackageSpec {
  name: string
  version: string
  deps?: string[]
}

export interface PackageSet {
  release: string
  /** Changes every store hash but no name, so separate fixtures never share builds. */
  salt?: string
  /** Packages whose build fails. */
  failing?: string[]
  packages: PackageSpec[]
  /** systemd units of the services (examples/pkgs/flake.nix lays them out as NixOS does). */
  units?: UnitSpec[]
  /** Evaluation warnings printed by every host that uses the package or service `for`. */
  warnings?: { for: string; text: string }[]
}

/** A systemd unit that every host running the service `for` gets. */
export interface UnitSpec {
  name: string
  for: string
  /** Its ExecStart runs this package, so the unit changes with the package. */
  package?: string
  /** Extra lines of the [Unit] and [Service] sections, e.g. `X-ReloadIfChanged=true`. */
  unit?: string[]
  service?: string[]
  /** false: no target wants it. */
  wantedBy?: boolean
}
