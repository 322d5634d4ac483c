{
  description = "Example fleet: three servers, a desktop, an installer image and a host that does not evaluate; rollout waves 0 (web), 1 (db, mail) and 2 (laptop)";

  # The demo points this at a local copy of ../pkgs (git+file:///…): no network needed.
  inputs.pkgs.url = "git+file:///tmp/nixos-fleet-update-demo/pkgs";

  outputs = { self, pkgs }:
    let
      mk = pkgs.lib.mkSystem;
    in
    {
      nixosConfigurations = {
        web = mk { hostName = "web"; packages = [ "curl" "htop" ]; services = [ "nginx" ]; wave = 0; };
        db = mk { hostName = "db"; packages = [ "htop" "rsync" ]; services = [ "postgresql" ]; wave = 1; };
        mail = mk { hostName = "mail"; packages = [ "curl" ]; services = [ "postfix" "dovecot" ]; wave = 1; };
        laptop = mk { hostName = "laptop"; packages = [ "htop" "swww" "curl" ]; wave = 2; };
        installer-minimal = mk { hostName = "installer-minimal"; packages = [ "bash" ]; };
        legacy = throw "legacy: the option services.oldDaemon was removed";
      };
    };
}
