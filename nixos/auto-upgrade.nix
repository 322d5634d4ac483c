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

  # A time span in one unit, as the `timeout` options take it: "2h", "90min", "300s", "1d".
  span = lib.types.strMatching "[1-9][0-9]*(s|min|h|d)";
  spanSeconds =
    text:
    let
      m = builtins.match "([1-9][0-9]*)(s|min|h|d)" text;
    in
    lib.toInt (builtins.elemAt m 0)
    * {
      s = 1;
      min = 60;
      h = 3600;
      d = 86400;
    }
    .${builtins.elemAt m 1};
  spanText =
    seconds:
    if lib.mod seconds 3600 == 0 then
      "${toString (seconds / 3600)}h"
    else if lib.mod seconds 60 == 0 then
      "${toString (seconds / 60)}min"
    else
      "${toString seconds}s";

  checks = cfg.healthChecks;
  hasChecks = checks.units != [ ] || checks.commands != [ ] || checks.urls != [ ];
  checkSeconds = spanSeconds checks.timeout;

  # upgrade.sh stops fetching and building at `timeout`; systemd stops the whole run (the switch, the health
  # checks and a rollback included) a quarter of an hour after the checks' own time, should anything hang.
  serviceSeconds = spanSeconds cfg.timeout + checkSeconds + 900;
  bootCheckSeconds = checkSeconds + 900;

  stateDir = "/var/lib/fleet-auto-upgrade";

  # Everything upgrade.sh needs, nothing secret: the token stays in reportStatus.tokenFile.
  upgradeConfig = pkgs.writeText "fleet-auto-upgrade.json" (
    builtins.toJSON {
      flake = flakeRef;
      inherit (cfg) operation allowReboot;
      rebootWindow = if cfg.allowReboot then cfg.rebootWindow else null;
      extraFlags = flagWords;
      inherit (cfg.rollout) wave branch;
      forge =
        if report.enable then
          {
            inherit (report) apiUrl repository tokenFile;
          }
        else
          null;
      healthChecks = {
        inherit (checks) units commands urls;
        timeout = checkSeconds;
      };
      timeLimit = spanSeconds cfg.timeout;
      timeLimitText = cfg.timeout;
      inherit stateDir;
    }
  );

  upgradeScript = args: "exec ${pkgs.bash}/bin/bash ${./upgrade.sh} --config ${upgradeConfig}${args}";

  servicePath = [
    pkgs.coreutils
    pkgs.curl
    pkgs.jq
    pkgs.gnugrep
    pkgs.gnused
    config.systemd.package
    config.system.build.nixos-version
    config.system.build.nixos-rebuild
    config.nix.package
  ];

  reportCommand =
    {
      operation,
      outcomeFile,
      limitText,
    }:
    execArgs [
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
      operation
      "--outcome-file"
      outcomeFile
      "--upgrade-timeout"
      limitText
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

    rollout = {
      wave = lib.mkOption {
        type = lib.types.ints.unsigned;
        default = 0;
        example = 1;
        description = ''
          The rollout wave of this host. Wave 0 deploys the branch tip. A host in wave N > 0 deploys the
          newest of the branch's last 20 commits that carries a `success` commit status with context
          `nixos-rollout/wave-N` (set by the nixos-fleet-update action once wave N-1 is healthy on it),
          pinned with `rev=`; while there is none it changes nothing and reports "waiting for wave N-1".
          Waves above 0 read the statuses with {option}`${opt}.reportStatus`'s API, repository and token.
        '';
      };

      branch = lib.mkOption {
        type = lib.types.nullOr (lib.types.strMatching "[^[:space:]]+");
        default = null;
        example = "main";
        description = ''
          The branch whose commits a host in wave N > 0 looks through. `null`: the `ref=` of
          {option}`${opt}.flake` (or the branch in `github:OWNER/REPO/BRANCH`), else the repository's
          default branch.
        '';
      };
    };

    healthChecks = {
      units = lib.mkOption {
        type = lib.types.listOf lib.types.nonEmptyStr;
        default = [ ];
        example = [
          "nginx.service"
          "postgresql.service"
        ];
        description = "Units that must be active after the upgrade (waiting up to {option}`${opt}.healthChecks.timeout`).";
      };

      commands = lib.mkOption {
        type = lib.types.listOf (lib.types.nonEmptyListOf lib.types.str);
        default = [ ];
        example = lib.literalExpression ''[ [ "''${pkgs.postgresql}/bin/pg_isready" "--quiet" ] ]'';
        description = ''
          Commands that must exit 0 after the upgrade, each an argument list run without a shell
          (write `[ "''${pkgs.bash}/bin/bash" "-c" "…" ]` for one). Run as root.
        '';
      };

      urls = lib.mkOption {
        type = lib.types.listOf (lib.types.strMatching "https?://[^[:space:]]+");
        default = [ ];
        example = [ "http://127.0.0.1:8080/healthz" ];
        description = "URLs that must answer a 2xx status (redirects are not followed) after the upgrade.";
      };

      timeout = lib.mkOption {
        type = span;
        default = "5min";
        example = "90s";
        description = ''
          How long the checks may take to pass, all together: a unit still starting, a command or URL
          that fails is tried again until then. In one unit: `s`, `min`, `h` or `d`.
        '';
      };
    };

    timeout = lib.mkOption {
      type = span;
      default = "2h";
      example = "45min";
      description = ''
        Time limit for fetching and building the new system; a run that exceeds it stops, changes
        nothing and is reported as "timed out after …". systemd stops the whole run
        (`TimeoutStartSec=`) at this limit plus {option}`${opt}.healthChecks.timeout` plus 15 minutes.
        In one unit: `s`, `min`, `h` or `d`.
      '';
    };

    reportStatus = {
      enable = lib.mkEnableOption ''
        reporting each upgrade's outcome to the fleet repository as a commit status (context
        {option}`${opt}.reportStatus.context`) on the fleet commit the host deployed or tried to:
        "running <rev>", "switched to <rev>; reboot pending (kernel)", "boots into <rev> at next reboot",
        "waiting for wave <N-1>", "refused <rev>: older than the running <rev>",
        "rolled back from <rev>: <check> failed", "timed out after <timeout> while <step>", or
        "upgrade failed: <last log line>". nixos-fleet-update reads these into the "Fleet state" of
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
        assertion = cfg.rollout.wave == 0 || report.enable;
        message = ''
          ${opt}.rollout.wave is ${toString cfg.rollout.wave}: a host in a wave above 0 reads the wave gate
          (commit statuses) through the forge's API with ${opt}.reportStatus's apiUrl, repository and
          tokenFile. Enable ${opt}.reportStatus.
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

    # system.autoUpgrade keeps the timer and the service's environment; upgrade.sh replaces its script (which
    # could only follow one fixed flake reference). ExecStopPost= runs after every run of the service, whether
    # it succeeded, failed or timed out, with the outcome in $SERVICE_RESULT and upgrade.sh's outcome file; the
    # leading "-" keeps a failed report from marking the upgrade failed.
    systemd.services.nixos-upgrade = {
      path = servicePath;
      script = lib.mkForce (upgradeScript "");
      serviceConfig = {
        TimeoutStartSec = "${toString serviceSeconds}s";
        StateDirectory = "fleet-auto-upgrade";
        ExecStopPost = lib.mkIf report.enable "-${
          reportCommand {
            inherit (cfg) operation;
            outcomeFile = "${stateDir}/outcome";
            limitText = spanText serviceSeconds;
          }
        }";
      };
    };

    # After an upgrade with operation = "boot" (or one that needed a reboot), the health checks run once the
    # installed system has booted; at any other boot this finds nothing to check and reports nothing.
    systemd.services.fleet-auto-upgrade-boot-check = lib.mkIf hasChecks {
      description = "Health checks of the system a fleet upgrade installed for this boot";
      wantedBy = [ "multi-user.target" ];
      after = [
        "multi-user.target"
        "network-online.target"
      ];
      wants = [ "network-online.target" ];
      # A missed run of the timer (Persistent=) may start an upgrade at this boot: check first.
      before = [ "nixos-upgrade.service" ];
      restartIfChanged = false;
      path = servicePath;
      script = upgradeScript " --boot-check";
      serviceConfig = {
        Type = "oneshot";
        TimeoutStartSec = "${toString bootCheckSeconds}s";
        StateDirectory = "fleet-auto-upgrade";
        ExecStopPost = lib.mkIf report.enable "-${
          reportCommand {
            operation = "switch";
            outcomeFile = "${stateDir}/boot-check-outcome";
            limitText = spanText bootCheckSeconds;
          }
        }";
      };
    };
  };
}
