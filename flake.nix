{
  description = "nixos-fleet-update: NixOS module that upgrades each host from the fleet's reviewed flake.lock";

  outputs =
    { self }:
    {
      nixosModules = {
        # The module is imported by path, so the module system deduplicates it when a configuration
        # imports both names; the surrounding attribute set keeps `nix flake check` of older Nix
        # releases, which reject bare paths as modules, happy.
        auto-upgrade = {
          imports = [ ./nixos/auto-upgrade.nix ];
        };
        default = self.nixosModules.auto-upgrade;
      };
    };
}
