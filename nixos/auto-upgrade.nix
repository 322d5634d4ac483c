# Host side of nixos-fleet-update: every host follows the fleet repository's default branch and
# rebuilds from the flake.lock that CI updated, built and got reviewed, never from one it resolves
# itself.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.fleet-auto-upgrade;
  opt = "services.fleet-auto-upgrade";

  # These exist to change flake.lock on the host (update inputs, or commit the result), which would
  # make it run inputs that no pull request showed and no CI job built. --update-input and
  # --recreate-lock-file are also deprecated in current Nix and Lix in favour of `nix flake update`.
  lockChangingFlags = [
    "--update-input"
    "--recreate-lock-file"
    "--commit-lock-file"
  ];

  # The nixos-upgrade service pastes the flags unquoted into a shell script, so one element such as
  # "--update-input nixpkgs" reaches nixos-rebuild as two words; check words, not elements.
  flagWords = lib.concatMap (
    flag: lib.filter (word: builtins.isString word && word != "") (builtins.split "[[:space:]]+" flag)
  ) cfg.extraFlags;

  isLockChanging = word: lib.any (bad: word == bad || lib.hasPrefix "${bad}=" word) lockChangingFlags;

  rejectedFlags = lib.unique (lib.filter isLockChanging flagWords);

  hasAttribute = lib.hasInfix "#" cfg.flake;

  flakeRef = if hasAttribute then cfg.flake else "${cfg.flake}#${cfg.host}";

  timeOfDay = lib.types.strMatching "[[:digit:]]{2}:[[:digit:]]{2}";

  report = cfg.reportStatus;

  # systemd splits ExecStopPost= like a shell (single quotes work) and expands % specifiers.
  execArgs = args: lib.replaceStrings [ "%" ] [ "%%" ] (lib.escapeShellArgs args);

  reportCommand = execArgs [
    "${pkgs.bash}/bin/bash"
    "${./report-status.sh}"
    "--api-url"
    report.apiUrl
    "--repository"
    report.repository
    "--token-file"
    report.tokenFile
    "--context"
    report.context
    "--flake"
    flakeRef
    "--operation"
    cfg.operation
  ];
in
{
  options.services.fleet-auto-upgrade = {
    enable = lib.mkEnableOption "automatic upgrades of this host from the fleet repository's reviewed flake.lock";

    flake = lib.mkOption {
      type = lib.types.nonEmptyStr;
      example = "git+https://forge.example/org/fleet.git";
      description = ''
        Flake URL of the fleet repository, usually its default branch. Unless it already contains
        a `#`, `#''${host}` is appended so that the host builds its own
        `nixosConfigurations.<host>`.
      '';
    };

    host = lib.mkOption {
      type = lib.types.str;
      default = config.networking.hostName;
      defaultText = lib.literalExpression "config.networking.hostName";
      example = "web-01";
      description = ''
        Attribute of `nixosConfigurations` to build, for hosts whose configuration is not named
        after their host name. Ignored when {option}`${opt}.flake` already contains a `#`.
      '';
    };

    dates = lib.mkOption {
      type = lib.types.str;
      # Host-local time, as system.autoUpgrade reads it; hosts far east of UTC may prefer "05:00 UTC".
      default = "05:00";
      example = "Sat 05:00 UTC";
      description = ''
        When to upgrade, as a systemd calendar event (see {manpage}`systemd.time(7)`). The default
        is one hour after the scheduled update workflow of nixos-fleet-update (04:00 UTC).
      '';
    };

    randomizedDelaySec = lib.mkOption {
      type = lib.types.str;
      # Spreads the fleet's fetches from the forge and the binary cache over half an hour instead of
      # having every host start at the same second.
      default = "30min";
      example = "0";
      description = ''
        Random delay, between zero and this time span, added before each upgrade
        (see {manpage}`systemd.time(7)`). Use `"0"` for single hosts that should upgrade on time.
      '';
    };

    persistent = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Whether a run missed while the host was off (a laptop, a desktop switched off at night)
        starts as soon as the host boots again.
      '';
    };

    operation = lib.mkOption {
      type = lib.types.enum [
        "switch"
        "boot"
      ];
      default = "switch";
      example = "boot";
      description = ''
        `switch` activates the new generation immediately (servers); `boot` only makes it the
        default for the next boot, so running sessions are never restarted under the user
        (desktops and laptops).
      '';
    };

    allowReboot = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Whether the host may reboot itself when the new generation cannot be applied without a
        reboot, e.g. a new kernel (the exact checks depend on the nixpkgs release). See
        {option}`${opt}.rebootWindow`.
      '';
    };

    rebootWindow = lib.mkOption {
      type = lib.types.nullOr (
        lib.types.submodule {
          options = {
            lower = lib.mkOption {
              type = timeOfDay;
              example = "05:00";
              description = "Start of the window, `HH:MM` in the host's local time.";
            };
            upper = lib.mkOption {
              type = timeOfDay;
              example = "07:00";
              description = "End of the window, `HH:MM` in the host's local time.";
            };
          };
        }
      );
      default = null;
      example = {
        lower = "05:00";
        upper = "07:00";
      };
      description = ''
        Time of day during which an automatic reboot is allowed; `null` allows it at any time. Only
        used when {option}`${opt}.allowReboot` is true.
      '';
    };

    substituter = lib.mkOption {
      type = lib.types.nullOr (
        lib.types.submodule {
          options = {
            url = lib.mkOption {
              type = lib.types.strMatching "[^[:space:]]+";
              example = "https://cache.example.org";
              description = ''
                Store URL of the binary cache that the fleet's CI pushes its builds to (the action's
                `push-to`), as this host reaches it: `https://…`, `s3://…?region=…`,
                `ssh-ng://…`, or `file:///…` on a shared file system.
              '';
            };
            publicKey = lib.mkOption {
              type = lib.types.strMatching "[^:[:space:]]+:[A-Za-z0-9+/]+={0,2}";
              example = "fleet-cache-1:jWpBJHHNVcOA+WMOiDbcQH6R7L1MOucPRUUtsK7QR1Q=";
              description = ''
                Public key of the action's `push-signing-key` (`nix key convert-secret-to-public`,
                or the `.pub` file `nix-store --generate-binary-cache-key` wrote). Paths from the
                cache are used only when this key signed them.
              '';
            };
          };
        }
      );
      default = null;
      example = {
        url = "https://cache.example.org";
        publicKey = "fleet-cache-1:jWpBJHHNVcOA+WMOiDbcQH6R7L1MOucPRUUtsK7QR1Q=";
      };
      description = ''
        The binary cache that CI fills with every host's reviewed system, so the upgrade fetches
        it instead of building it. Added to {option}`nix.settings` as `extra-substituters` and
        `extra-trusted-public-keys`, next to the substituters the host already has.
      '';
    };

    extraFlags = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [
        "--option"
        "extra-substituters"
        "https://cache.example.org"
      ];
      description = ''
        Extra arguments for {command}`nixos-rebuild`, after `--no-update-lock-file`. Flags that
        rewrite the lock file on the host (`--update-input`, `--recreate-lock-file`,
        `--commit-lock-file`) are rejected.
      '';
    };

    reportStatus = {
      enable = lib.mkEnableOption ''
        reporting each upgrade's outcome to the fleet repository as a commit status (context
        {option}`${opt}.reportStatus.context`) on the fleet commit the host deployed or tried to:
        "running <rev>", "switched to <rev>; reboot pending (kernel)", "boots into <rev> at next reboot",
        or "upgrade failed: <last log line>". nixos-fleet-update reads these into the "Fleet state" of
        its next report. A report that cannot be made never fails the upgrade'';

      apiUrl = lib.mkOption {
        type = lib.types.strMatching "https?://.+";
        example = "https://codeberg.org/api/v1";
        description = ''
          The forge's API: `https://HOST/api/v1` for Forgejo and Gitea, `https://api.github.com` for
          GitHub.
        '';
      };

      repository = lib.mkOption {
        type = lib.types.strMatching "[^/[:space:]]+/[^/[:space:]]+";
        example = "infra/fleet";
        description = "The fleet repository, as `OWNER/REPO`.";
      };

      tokenFile = lib.mkOption {
        type = lib.types.str;
        example = "/run/secrets/fleet-status-token";
        description = ''
          Absolute path of a file holding a token that may write commit statuses (Forgejo: a token
          with `write:repository`; GitHub: a fine-grained token with "Commit statuses: write"). Read
          by root when reporting; never copied into the Nix store, never put on a command line.
        '';
      };

      context = lib.mkOption {
        type = lib.types.strMatching "[^[:cntrl:]]+";
        default = "nixos-upgrade/${cfg.host}";
        defaultText = lib.literalExpression ''"nixos-upgrade/''${config.${opt}.host}"'';
        description = ''
          The status context. nixos-fleet-update reads contexts `nixos-upgrade/<host>`: keep the
          default unless the host name differs from the nixosConfigurations attribute.
        '';
      };
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = rejectedFlags == [ ];
        message = ''
          ${opt}.extraFlags contains ${lib.concatStringsSep ", " rejectedFlags}: these make the host
          rewrite flake.lock instead of running the lock file that the fleet's CI built and that was
          reviewed in a pull request. Remove them; inputs are updated by the nixos-fleet-update
          workflow.
        '';
      }
      {
        assertion = !report.enable || lib.hasPrefix "/" report.tokenFile;
        message = ''
          ${opt}.reportStatus.tokenFile must be an absolute path to a file outside the Nix store
          (the store is world-readable), got "${report.tokenFile}".
        '';
      }
      {
        assertion = hasAttribute || cfg.host != "";
        message = ''
          ${opt}.host is empty (it defaults to networking.hostName): set it to the name of this
          host's nixosConfigurations attribute, or put "#<name>" at the end of ${opt}.flake.
        '';
      }
    ];

    warnings = lib.optional (cfg.rebootWindow != null && !cfg.allowReboot) ''
      ${opt}.rebootWindow is set but ${opt}.allowReboot is false, so the host never reboots on its
      own and the window has no effect.
    '';

    nix.settings = lib.mkIf (cfg.substituter != null) {
      extra-substituters = [ cfg.substituter.url ];
      extra-trusted-public-keys = [ cfg.substituter.publicKey ];
    };

    system.autoUpgrade = {
      enable = true;
      flake = flakeRef;
      flags = [ "--no-update-lock-file" ] ++ cfg.extraFlags;
      inherit (cfg)
        dates
        randomizedDelaySec
        persistent
        operation
        allowReboot
        rebootWindow
        ;
    };

    # ExecStopPost= runs after every run of the service, whether it succeeded or failed, with the outcome in
    # $SERVICE_RESULT; the leading "-" keeps a failed report from marking the upgrade failed.
    systemd.services.nixos-upgrade = lib.mkIf report.enable {
      path = [
        pkgs.curl
        pkgs.gnugrep
        pkgs.gnused
        config.systemd.package
        config.system.build.nixos-version
      ];
      serviceConfig.ExecStopPost = "-${reportCommand}";
    };
  };
}
