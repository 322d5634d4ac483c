{
  description = "A tiny package set for fixture fleets: realistic name-version store paths, built in milliseconds";

  outputs = { self }:
    let
      system = "x86_64-linux";
      spec = builtins.fromJSON (builtins.readFile ./packages.json);
      failing = spec.failing or [ ];
      # Packages whose build takes long (for time-out tests) or prints hostile text before failing.
      slow = spec.slow or [ ];
      noisy = spec.noisy or [ ];
      # Changes every hash without changing a name: separate test runs never share builds.
      salt = spec.salt or "";
      # systemd units of a service: { name; for = service name; package?; unit?, service? = extra lines;
      # wantedBy? = false for a unit no target wants }.
      units = spec.units or [ ];
      # Evaluation warnings, as NixOS prints its config.warnings: { for = package or service name; text; }.
      warnings = spec.warnings or [ ];
      esc = builtins.fromJSON "\"\\u001b\"";
      # nixpkgs' lib.warn: builtins.warn where Nix has it (2.23+), else a coloured trace.
      warn = builtins.warn or (msg: builtins.trace "${esc}[1;31mwarning: ${msg}${esc}[0m");

      # One store path per package; its dependencies are written into it so they become references.
      mkPackage = name: version: deps:
        builtins.derivation {
          inherit system;
          name = "${name}-${version}";
          builder = "/bin/sh";
          PATH = "/usr/bin:/bin";
          inherit deps salt;
          args = [
            "-c"
            ''
              mkdir -p $out/bin
              printf '#!/bin/sh\necho ${name} ${version}\n' > $out/bin/${name}
              for d in $deps; do echo "$d" >> $out/deps; done
              ${if builtins.elem name slow then "sleep 30" else ""}
              ${if builtins.elem name noisy then ''
                printf '\377\376 not utf-8 ``` fence @everyone <script>alert(1)</script> | pipe\n'
                head -c 5000 /dev/zero | tr '\0' x; echo
              '' else ""}
              ${if builtins.elem name failing then ''
                echo "building ${name}-${version}"
                echo "error: test suite of ${name} failed" >&2
                exit 1
              '' else ""}
            ''
          ];
        };

      # Packages in dependency order: each entry may name dependencies defined before it.
      packages = builtins.foldl'
        (acc: p: acc // { ${p.name} = mkPackage p.name p.version (map (d: acc.${d}) (p.deps or [ ])); })
        { }
        spec.packages;

      mkLinks = name: paths: extra:
        builtins.derivation {
          inherit system name paths;
          builder = "/bin/sh";
          PATH = "/usr/bin:/bin";
          args = [ "-c" "mkdir -p $out; for p in $paths; do ln -s $p $out/; done; ${extra}" ];
        };

      # extraPackages: derivations from elsewhere (another input) in the system's packages.
      # wave: the host's services.fleet-auto-upgrade.rollout.wave, as the NixOS module sets it (null: no module).
      mkSystem = { hostName, packages ? [ ], services ? [ ], work ? 0, heavy ? 0, extraPackages ? [ ], wave ? null }:
        let
          selected = map (n: self.packages.${system}.${n}) packages ++ extraPackages;
          kernel = self.packages.${system}.linux;
          # Evaluation cost per host, so that evaluating a fleet is not free.
          evalWork = builtins.foldl' (a: i: a + builtins.stringLength (toString i)) 0 (builtins.genList (i: i * 7) work);
          systemPath = mkLinks "system-path" selected "";
          modules = builtins.derivation {
            inherit system;
            name = "${kernel.name}-modules";
            builder = "/bin/sh";
            PATH = "/usr/bin:/bin";
            args = [ "-c" "mkdir -p $out/lib/modules/${kernel.name}; echo ${kernel} > $out/lib/modules/${kernel.name}/kernel" ];
          };
          initrd = builtins.derivation {
            inherit system;
            name = "initrd-${kernel.name}";
            builder = "/bin/sh";
            PATH = "/usr/bin:/bin";
            args = [ "-c" "mkdir -p $out; echo ${modules} > $out/initrd" ];
          };
          # Evaluation memory per host: `heavy` option values, each a small attribute set, reachable from the
          # host's config the way a NixOS module tree keeps its options; the system depends on all of them.
          options = builtins.listToAttrs (builtins.genList
            (i: { name = "option${toString i}"; value = { index = i; host = hostName; enable = i / 3 * 3 == i; }; })
            heavy);
          optionsDigest = builtins.hashString "sha256" (builtins.toJSON options);
          used = packages ++ services;
          # systemd units as NixOS lays them out: etc/systemd/system links to a system-units directory whose
          # entries link to one store path per unit, and multi-user.target.wants/NAME links to ../NAME.
          hostUnits = builtins.filter (u: builtins.elem u.for used) units;
          unitText = u:
            let exec = if u ? package then "${self.packages.${system}.${u.package}}/bin/${u.package}" else "/bin/true";
            in builtins.concatStringsSep "\n" (
              [ "[Unit]" "Description=${u.name}" ] ++ (u.unit or [ ])
              ++ [ "" "[Service]" "ExecStart=${exec}" ] ++ (u.service or [ ]) ++ [ "" ]
            );
          mkUnit = name: text:
            builtins.derivation {
              # The salt: a unit without a package (multi-user.target) would otherwise be shared by every fixture.
              inherit system text salt;
              name = "unit-${builtins.replaceStrings [ "@" ] [ "-" ] name}";
              builder = "/bin/sh";
              PATH = "/usr/bin:/bin";
              args = [ "-c" "mkdir -p $out; printf '%s' \"$text\" > $out/${name}" ];
            };
          systemUnits = builtins.derivation {
            inherit system;
            name = "system-units";
            builder = "/bin/sh";
            PATH = "/usr/bin:/bin";
            links = map (u: "${mkUnit u.name (unitText u)}/${u.name}") hostUnits
              ++ [ "${mkUnit "multi-user.target" "[Unit]\nDescription=Multi-User System\n"}/multi-user.target" ];
            wanted = map (u: u.name) (builtins.filter (u: u.wantedBy or true) hostUnits);
            args = [
              "-c"
              ''
                mkdir -p $out/multi-user.target.wants
                for l in $links; do ln -s $l $out/; done
                for n in $wanted; do ln -s ../$n $out/multi-user.target.wants/$n; done
                ln -s multi-user.target $out/default.target
              ''
            ];
          };
          etc = mkLinks "etc" (map (n: self.packages.${system}.${n}) services) ''
            mkdir -p $out/etc/systemd
            for p in $paths; do ln -s $p $out/etc/; done
            ln -s ${systemUnits} $out/etc/systemd/system
            echo ${hostName} ${toString evalWork}${if heavy > 0 then " ${optionsDigest}" else ""} > $out/etc/hostname
          '';
          hostWarnings = map (w: w.text) (builtins.filter (w: builtins.elem w.for used) warnings);
          toplevel = builtins.foldl' (v: msg: warn msg v) toplevelDrv hostWarnings;
          toplevelDrv = builtins.derivation {
            inherit system;
            name = "nixos-system-${hostName}-${spec.release}";
            builder = "/bin/sh";
            PATH = "/usr/bin:/bin";
            args = [
              "-c"
              ''
                mkdir -p $out
                ln -s ${systemPath} $out/sw
                ln -s ${kernel}/bzImage $out/kernel
                ln -s ${initrd}/initrd $out/initrd
                ln -s ${modules}/lib/modules $out/kernel-modules
                ln -s ${etc}/etc $out/etc
                echo ${hostName} > $out/hostname
                echo ${spec.release}.20240101.fixture > $out/nixos-version
              ''
            ];
          };
        in
        {
          config = {
            networking.hostName = hostName;
            inherit options;
            system.build.toplevel = toplevel;
          } // (if wave == null then { } else { services.fleet-auto-upgrade.rollout.wave = wave; });
        };
    in
    {
      packages.${system} = packages;
      lib = { inherit mkSystem; };
    };
}
