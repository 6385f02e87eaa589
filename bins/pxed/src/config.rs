//! Command line and TOML configuration.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::Parser;
use netboot_dhcp::policy::{Policy, Rule};
use netboot_dhcp::wire::ClientArch;
use serde::Deserialize;

/// A proxyDHCP and PXE boot server: answers only the PXE part of DHCP and
/// hands each client its next stage, next to the site's own DHCP server.
///
/// Legacy BIOS PXE ROMs get --bios-bootfile, x86-64 UEFI gets
/// --efi64-bootfile, ARM64 UEFI --arm64-bootfile, UEFI HTTP boot clients
/// --efi64-http-url, and a client that is already iPXE gets --ipxe-script,
/// so it does not load iPXE again (the chain-load loop). Clients without PXE (option 60 `PXEClient`) are never
/// answered. A table of rules in the TOML file (`[[rule]]`, see
/// pxed.example.toml) replaces the built-in one; rules from the command
/// line come first. With --range, pxed also hands out addresses, for labs
/// without a DHCP server.
#[derive(Debug, Parser)]
#[command(name = "pxed", version, about, long_about)]
pub struct Cli {
    /// The interface to serve (only its network is answered).
    #[arg(long, short = 'i', value_name = "IFACE")]
    interface: Option<String>,
    /// The TFTP server clients load from (default: our address on IFACE).
    #[arg(long, value_name = "IP")]
    tftp_server: Option<Ipv4Addr>,
    /// Boot file for legacy BIOS PXE ROMs (arch 0).
    #[arg(long, value_name = "FILE")]
    bios_bootfile: Option<String>,
    /// Boot file for x86-64 UEFI (arch 7 and 9).
    #[arg(long, value_name = "FILE")]
    efi64_bootfile: Option<String>,
    /// Boot file for ARM64 UEFI (arch 11).
    #[arg(long, value_name = "FILE")]
    arm64_bootfile: Option<String>,
    /// URL for x86-64 UEFI HTTP boot clients (option 60 `HTTPClient`,
    /// arch 16), e.g. http://10.0.0.2/ipxe.efi (served by any HTTP
    /// server). Without it they are not answered.
    #[arg(long, value_name = "URL")]
    efi64_http_url: Option<String>,
    /// What iPXE clients get: a URL (tftp://, http://) or a file name on
    /// the TFTP server. Default: tftp://TFTP-SERVER/boot.ipxe.
    #[arg(long, value_name = "URL")]
    ipxe_script: Option<String>,
    /// Also hand out addresses from this range (authoritative mode), e.g.
    /// 10.0.0.100-10.0.0.199.
    #[arg(long, value_name = "START-END", value_parser = parse_range)]
    range: Option<(Ipv4Addr, Ipv4Addr)>,
    /// With --range: where leases are kept across restarts
    /// [default: /var/lib/pxed/leases.json]. --lease-file, --lease-time,
    /// --router and --dns without --range are refused.
    #[arg(long, value_name = "FILE")]
    lease_file: Option<PathBuf>,
    /// With --range: lease time in seconds.
    #[arg(long, value_name = "SECONDS")]
    lease_time: Option<u32>,
    /// With --range: default gateway handed out (option 3).
    #[arg(long, value_name = "IP")]
    router: Option<Ipv4Addr>,
    /// With --range: DNS servers handed out (option 6; repeatable).
    #[arg(long, value_name = "IP")]
    dns: Vec<Ipv4Addr>,
    /// UDP port for DHCP [default: 67]; 1-65535, not the same as --pxe-port.
    #[arg(long, value_name = "PORT")]
    dhcp_port: Option<u16>,
    /// UDP port of the PXE boot server [default: 4011]; 1-65535, not the
    /// same as --dhcp-port.
    #[arg(long, value_name = "PORT")]
    pxe_port: Option<u16>,
    #[command(flatten)]
    common: netboot_daemon::CommonArgs,
}

/// `START-END`: a non-empty range of at most 65536 addresses.
pub fn parse_range(s: &str) -> Result<(Ipv4Addr, Ipv4Addr), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("expected START-END, got {s:?}"))?;
    let a: Ipv4Addr = a
        .trim()
        .parse()
        .map_err(|e| format!("range start {a:?}: {e}"))?;
    let b: Ipv4Addr = b
        .trim()
        .parse()
        .map_err(|e| format!("range end {b:?}: {e}"))?;
    if u32::from(a) > u32::from(b) {
        return Err(format!("range {a}-{b} is empty"));
    }
    if u32::from(b) - u32::from(a) >= 1 << 16 {
        return Err(format!("range {a}-{b} is larger than 65536 addresses"));
    }
    Ok((a, b))
}

/// The same settings as the command line, and the rule table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    interface: Option<String>,
    tftp_server: Option<Ipv4Addr>,
    bios_bootfile: Option<String>,
    efi64_bootfile: Option<String>,
    arm64_bootfile: Option<String>,
    efi64_http_url: Option<String>,
    ipxe_script: Option<String>,
    range: Option<String>,
    lease_file: Option<PathBuf>,
    lease_time: Option<u32>,
    router: Option<Ipv4Addr>,
    dns: Option<Vec<Ipv4Addr>>,
    dhcp_port: Option<u16>,
    pxe_port: Option<u16>,
    log_level: Option<String>,
    #[serde(default)]
    rule: Vec<Rule>,
}

/// Address hand-out (authoritative mode).
#[derive(Debug, Clone)]
pub struct Leasing {
    pub range: (Ipv4Addr, Ipv4Addr),
    pub lease_file: PathBuf,
    pub lease_time: u32,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub interface: String,
    pub tftp_server: Option<Ipv4Addr>,
    /// The rules, first match wins; `{tftp-server}` in a script URL or boot
    /// file is replaced by the TFTP server's address (see
    /// [`Config::policy`]).
    pub rules: Vec<Rule>,
    pub leasing: Option<Leasing>,
    pub dhcp_port: u16,
    pub pxe_port: u16,
    pub log_level: String,
}

/// A UDP port setting and where it came from, for error messages.
struct Port {
    value: u16,
    /// The flag, the config key, or the flag for the default.
    name: String,
}

impl Port {
    /// The flag's value, else the file's, else `default`; 0 is refused
    /// (the kernel would pick a random port no client sends to).
    fn pick(
        cli: Option<u16>,
        file: Option<u16>,
        default: u16,
        flag: &str,
        key: &str,
    ) -> Result<Port, String> {
        let (value, name) = match (cli, file) {
            (Some(v), _) => (v, flag.to_owned()),
            (None, Some(v)) => (v, format!("{key} =")),
            (None, None) => (default, format!("{flag} (default)")),
        };
        if value == 0 {
            return Err(format!(
                "{name} 0 is not a port clients can reach: give 1-65535"
            ));
        }
        Ok(Port { value, name })
    }
}

/// Placeholder for the TFTP server's address in the default script URL.
const TFTP_PLACEHOLDER: &str = "{tftp-server}";

/// The next stages of [`chainload_rules`]; `None` takes the default.
#[derive(Debug, Clone, Default)]
pub struct Chainload {
    /// iPXE's script [default: `tftp://{tftp-server}/boot.ipxe`].
    pub script: Option<String>,
    /// BIOS PXE ROMs [default: `undionly.kpxe`].
    pub bios: Option<String>,
    /// x86-64 UEFI [default: `ipxe.efi`].
    pub efi64: Option<String>,
    /// ARM64 UEFI [default: `snp.efi`].
    pub arm64: Option<String>,
    /// x86-64 UEFI HTTP boot's URL [default: none, HTTP boot unanswered].
    pub http_url: Option<String>,
}

/// The usual chain-load table: firmware gets iPXE for its architecture,
/// iPXE gets its script, UEFI HTTP boot its URL (when given).
pub fn chainload_rules(c: Chainload) -> Vec<Rule> {
    let mut rules = Policy::chainload(
        Some(
            c.script
                .as_deref()
                .unwrap_or(&format!("tftp://{TFTP_PLACEHOLDER}/boot.ipxe")),
        ),
        Some(c.bios.as_deref().unwrap_or("undionly.kpxe")),
        Some(c.efi64.as_deref().unwrap_or("ipxe.efi")),
    )
    .rules;
    rules.push(Rule {
        arch: vec![ClientArch::EFI_ARM64],
        boot_file: Some(c.arm64.unwrap_or_else(|| "snp.efi".into())),
        ..Rule::default()
    });
    if let Some(url) = c.http_url {
        rules.push(Rule {
            arch: vec![ClientArch::EFI_X64_HTTP],
            http: true,
            boot_file: Some(url),
            ..Rule::default()
        });
    }
    rules
}

impl Config {
    /// proxyDHCP on `interface` with `rules`, the standard ports, no
    /// addresses handed out, the interface's address as TFTP server: what
    /// a program that runs pxed as a library starts from (the binary reads
    /// flags and a file with [`Config::load`]).
    pub fn new(interface: impl Into<String>, rules: Vec<Rule>) -> Config {
        Config {
            interface: interface.into(),
            tftp_server: None,
            rules,
            leasing: None,
            dhcp_port: 67,
            pxe_port: 4011,
            log_level: "info".into(),
        }
    }

    /// The configuration of the command line and the file it names.
    pub fn load(cli: Cli) -> Result<Config, String> {
        let file: FileConfig = netboot_daemon::read_config(cli.common.config.as_deref())?;
        let interface = cli
            .interface
            .or(file.interface)
            .ok_or("--interface is required (the network to serve)")?;
        let flag = |c: Option<String>, f: Option<String>| c.or(f);
        let bios = flag(cli.bios_bootfile, file.bios_bootfile);
        let efi64 = flag(cli.efi64_bootfile, file.efi64_bootfile);
        let arm64 = flag(cli.arm64_bootfile, file.arm64_bootfile);
        let script = flag(cli.ipxe_script, file.ipxe_script);
        let http_url = flag(cli.efi64_http_url, file.efi64_http_url);
        // Rules from flags first; the file's table; then, if neither says
        // anything, the usual chain-load table.
        let any_flag = bios.is_some()
            || efi64.is_some()
            || arm64.is_some()
            || script.is_some()
            || http_url.is_some();
        let mut rules = Vec::new();
        if any_flag || file.rule.is_empty() {
            rules = chainload_rules(Chainload {
                script,
                bios,
                efi64,
                arm64,
                http_url,
            });
        }
        rules.extend(file.rule);
        Policy::new(rules.clone())
            .validate()
            .map_err(|e| format!("rule table: {e}"))?;
        let range = match (cli.range, file.range) {
            (Some(r), _) => Some(r),
            (None, Some(s)) => Some(parse_range(&s).map_err(|e| format!("range: {e}"))?),
            (None, None) => None,
        };
        if range.is_none() {
            // These only mean something to the authoritative mode; silently
            // ignoring them would leave a lab wondering why nobody gets an
            // address.
            let without_range = [
                (
                    "--lease-file",
                    "lease_file",
                    cli.lease_file.is_some(),
                    file.lease_file.is_some(),
                ),
                (
                    "--lease-time",
                    "lease_time",
                    cli.lease_time.is_some(),
                    file.lease_time.is_some(),
                ),
                (
                    "--router",
                    "router",
                    cli.router.is_some(),
                    file.router.is_some(),
                ),
                ("--dns", "dns", !cli.dns.is_empty(), file.dns.is_some()),
            ];
            for (flag, key, on_cli, in_file) in without_range {
                if on_cli {
                    return Err(format!(
                        "{flag} only applies to the authoritative mode: give --range too (or drop {flag})"
                    ));
                }
                if in_file {
                    return Err(format!(
                        "{key} in the config file only applies to the authoritative mode: set range too (or drop {key})"
                    ));
                }
            }
        }
        let leasing = range.map(|range| Leasing {
            range,
            lease_file: cli
                .lease_file
                .or(file.lease_file)
                .unwrap_or_else(|| PathBuf::from("/var/lib/pxed/leases.json")),
            lease_time: cli.lease_time.or(file.lease_time).unwrap_or(3600).max(60),
            router: cli.router.or(file.router),
            dns: if cli.dns.is_empty() {
                file.dns.unwrap_or_default()
            } else {
                cli.dns
            },
        });
        let log_level = cli.common.log_level(file.log_level);
        let dhcp_port = Port::pick(
            cli.dhcp_port,
            file.dhcp_port,
            67,
            "--dhcp-port",
            "dhcp_port",
        )?;
        let pxe_port = Port::pick(cli.pxe_port, file.pxe_port, 4011, "--pxe-port", "pxe_port")?;
        if dhcp_port.value == pxe_port.value {
            // One socket would get both protocols' datagrams, the other
            // none; and a boot-server REQUEST on 67 is not a DHCP REQUEST.
            return Err(format!(
                "{} {} and {} {} are the same port: DHCP and the PXE boot server need one each",
                dhcp_port.name, dhcp_port.value, pxe_port.name, pxe_port.value
            ));
        }
        Ok(Config {
            interface,
            tftp_server: cli.tftp_server.or(file.tftp_server),
            rules,
            leasing,
            dhcp_port: dhcp_port.value,
            pxe_port: pxe_port.value,
            log_level,
        })
    }

    /// The rule table, with the TFTP server's address in the default
    /// script URL.
    pub fn policy(&self, tftp_server: Ipv4Addr) -> Policy {
        let fill = |s: &Option<String>| {
            s.as_ref()
                .map(|s| s.replace(TFTP_PLACEHOLDER, &tftp_server.to_string()))
        };
        Policy::new(
            self.rules
                .iter()
                .map(|r| Rule {
                    script_url: fill(&r.script_url),
                    boot_file: fill(&r.boot_file),
                    ..r.clone()
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(args: &[&str], toml: Option<&str>) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let mut argv = vec!["pxed"];
        argv.extend_from_slice(args);
        let path = dir.path().join("pxed.toml");
        let p = path.to_str().unwrap().to_owned();
        if let Some(t) = toml {
            std::fs::write(&path, t).unwrap();
            argv.push("--config");
            argv.push(&p);
        }
        Config::load(Cli::try_parse_from(argv).map_err(|e| e.to_string())?)
    }

    #[test]
    fn defaults_are_the_chainload_table() {
        let c = load(&["-i", "eth0"], None).unwrap();
        let p = c.policy(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.rules.len(), 4);
        assert_eq!(
            p.rules[0].script_url.as_deref(),
            Some("tftp://10.0.0.1/boot.ipxe")
        );
        assert_eq!(p.rules[1].boot_file.as_deref(), Some("undionly.kpxe"));
        assert_eq!(p.rules[2].boot_file.as_deref(), Some("ipxe.efi"));
        assert_eq!(p.rules[3].boot_file.as_deref(), Some("snp.efi"));
        assert_eq!((c.dhcp_port, c.pxe_port), (67, 4011));
        assert!(c.leasing.is_none());
    }

    #[test]
    fn file_rules_and_flags() {
        let t = r#"
interface = "br0"
range = "10.0.0.100-10.0.0.110"
[[rule]]
arch = "efi-x64"
ipxe = true
ipxe_features = ["https"]
script_url = "https://boot.example/x64.ipxe"
[[rule]]
arch = ["bios", 9]
boot_file = "pxelinux.0"
"#;
        let c = load(&[], Some(t)).unwrap();
        assert_eq!(c.interface, "br0");
        let p = c.policy(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.rules.len(), 2, "{p:?}");
        assert_eq!(
            c.leasing.as_ref().unwrap().range.1,
            Ipv4Addr::new(10, 0, 0, 110)
        );
        // A flag adds the chain-load table in front.
        let c = load(&["--bios-bootfile", "x.kpxe"], Some(t)).unwrap();
        let p = c.policy(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.rules.len(), 6);
        assert_eq!(p.rules[1].boot_file.as_deref(), Some("x.kpxe"));
    }

    #[test]
    fn the_example_config_loads() {
        let text = include_str!("../pxed.example.toml");
        let c = load(&[], Some(text)).unwrap();
        assert_eq!(c.interface, "eth0");
        let p = c.policy(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.rules.len(), 6);
        assert!(p.rules[5].http);
        assert_eq!(p.rules[0].ipxe_features.len(), 1);
        assert_eq!(p.rules[3].arch.len(), 2);
    }

    #[test]
    fn bad_configs_are_named() {
        assert!(load(&[], None).unwrap_err().contains("--interface"));
        assert!(load(&["-i", "x", "--range", "10.0.0.9-10.0.0.1"], None)
            .unwrap_err()
            .contains("empty"));
        assert!(load(&["-i", "x"], Some("[[rule]]\narch = \"bios\"\n"))
            .unwrap_err()
            .contains("rule"));
        assert!(load(
            &["-i", "x"],
            Some("[[rule]]\narch = \"vax\"\nboot_file = \"a\"\n")
        )
        .unwrap_err()
        .contains("vax"));
        assert!(load(&["-i", "x"], Some("colour = 1\n"))
            .unwrap_err()
            .contains("colour"));
    }

    #[test]
    fn ports_must_be_two_different_real_ports() {
        let e = load(
            &["-i", "x", "--dhcp-port", "6767", "--pxe-port", "6767"],
            None,
        )
        .unwrap_err();
        assert!(
            e.contains("--dhcp-port 6767 and --pxe-port 6767 are the same port"),
            "{e}"
        );
        let e = load(&["-i", "x", "--pxe-port", "67"], None).unwrap_err();
        assert!(
            e.contains("--dhcp-port (default) 67 and --pxe-port 67"),
            "{e}"
        );
        let e = load(&["-i", "x", "--dhcp-port", "0"], None).unwrap_err();
        assert!(e.contains("--dhcp-port 0 is not a port"), "{e}");
        let e = load(&["-i", "x", "--pxe-port", "0"], None).unwrap_err();
        assert!(e.contains("--pxe-port 0 is not a port"), "{e}");
        // The same in the file.
        let e = load(&["-i", "x"], Some("dhcp_port = 0\n")).unwrap_err();
        assert!(e.contains("dhcp_port = 0 is not a port"), "{e}");
        let e = load(&["-i", "x"], Some("dhcp_port = 7000\npxe_port = 7000\n")).unwrap_err();
        assert!(
            e.contains("dhcp_port = 7000 and pxe_port = 7000 are the same port"),
            "{e}"
        );
        // A flag wins over the file, and is what the error names.
        let e = load(
            &["-i", "x", "--pxe-port", "7000"],
            Some("dhcp_port = 7000\n"),
        )
        .unwrap_err();
        assert!(e.contains("dhcp_port = 7000 and --pxe-port 7000"), "{e}");
        let c = load(
            &["-i", "x", "--dhcp-port", "6767", "--pxe-port", "4011"],
            Some("dhcp_port = 0\n"),
        )
        .unwrap();
        assert_eq!((c.dhcp_port, c.pxe_port), (6767, 4011));
    }

    #[test]
    fn leasing_settings_need_a_range() {
        for (flag, value) in [
            ("--lease-file", "/tmp/l.json"),
            ("--lease-time", "600"),
            ("--router", "10.0.0.1"),
            ("--dns", "10.0.0.1"),
        ] {
            let e = load(&["-i", "x", flag, value], None).unwrap_err();
            assert!(
                e.contains(&format!(
                    "{flag} only applies to the authoritative mode: give --range"
                )),
                "{flag}: {e}"
            );
            let c = load(
                &["-i", "x", "--range", "10.0.0.10-10.0.0.20", flag, value],
                None,
            )
            .unwrap();
            assert!(c.leasing.is_some());
        }
        for line in [
            "lease_file = \"/tmp/l.json\"",
            "lease_time = 600",
            "router = \"10.0.0.1\"",
            "dns = [\"10.0.0.1\"]",
        ] {
            let key = line.split(' ').next().unwrap();
            let e = load(&["-i", "x"], Some(&format!("{line}\n"))).unwrap_err();
            assert!(
                e.contains(&format!(
                    "{key} in the config file only applies to the authoritative mode"
                )),
                "{key}: {e}"
            );
            let c = load(
                &["-i", "x"],
                Some(&format!("range = \"10.0.0.10-10.0.0.20\"\n{line}\n")),
            )
            .unwrap();
            assert!(c.leasing.is_some());
        }
        let e = load(&["-i", "x"], Some("range = \"10.0.0.9-10.0.0.1\"\n")).unwrap_err();
        assert!(e.contains("range: range 10.0.0.9-10.0.0.1 is empty"), "{e}");
    }
}
