//! What an install may connect to: `https` only (unless plain `http` is allowed), the
//! optional host allowlist, and no loopback, private, link-local, metadata or unspecified
//! address (unless allowed). Checked on the first URL and on every redirect, and again
//! where it matters — at connection time, on the addresses the resolver hands to the
//! client — so a name that resolves differently the second time (DNS rebinding) still
//! cannot reach a private address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::error::InstallError;

/// Which non-public addresses an install may reach (`LORA_INSTALL_ALLOW_PRIVATE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PrivateAccess {
    /// None (the default).
    #[default]
    None,
    /// Every address (`true`: a test server, a closed network).
    All,
    /// Only those in these networks (`10.1.0.0/16,127.0.0.1`: an internal mirror).
    Nets(Vec<IpNet>),
}

impl PrivateAccess {
    /// Parses `true`, `false` or a comma list of addresses and CIDR networks.
    ///
    /// # Errors
    ///
    /// The part that is neither.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => return Ok(Self::All),
            "false" | "0" | "no" | "off" | "" => return Ok(Self::None),
            _ => {}
        }
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("{part:?} is neither true/false nor an address or CIDR network")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self::Nets)
    }

    fn allows(&self, ip: IpAddr) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Nets(nets) => nets.iter().any(|n| n.contains(&ip)),
        }
    }
}

/// The rules, shared by the request check, the redirect check and the resolver.
#[derive(Debug, Clone, Default)]
pub(crate) struct Guard {
    pub(crate) allow_http: bool,
    pub(crate) private: PrivateAccess,
    /// Host names (lower case) an install may reach, and their subdomains; `None`: any.
    pub(crate) hosts: Option<Vec<String>>,
}

impl Guard {
    /// Checks what the URL itself says: scheme, host allowlist, a literal address.
    ///
    /// # Errors
    ///
    /// [`InstallError::Refused`] naming the rule.
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), InstallError> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(refused(format!(
                    "{} is plain http (set LORA_INSTALL_ALLOW_HTTP=true to allow it)",
                    host_of(url)
                )));
            }
            other => return Err(refused(format!("the scheme {other}:// is not fetched"))),
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if let Some(hosts) = &self.hosts {
            let listed = hosts
                .iter()
                .any(|h| host == *h || host.ends_with(&format!(".{h}")));
            if !listed {
                return Err(refused(format!("{host} is not in LORA_INSTALL_HOSTS")));
            }
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(&host, IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(&host, IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }

    /// Checks one address `host` resolved to.
    ///
    /// # Errors
    ///
    /// [`InstallError::Refused`] for a non-public address not allowed.
    pub(crate) fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), InstallError> {
        match kind_of(ip) {
            Some(kind) if !self.private.allows(ip) => Err(refused(format!(
                "{host} is {ip}, a {kind} address (set LORA_INSTALL_ALLOW_PRIVATE to allow it)"
            ))),
            _ => Ok(()),
        }
    }

    /// Resolves `host` and keeps the addresses it may reach.
    ///
    /// # Errors
    ///
    /// [`InstallError::Refused`] when every address is refused; [`InstallError::Fetch`]
    /// when the name does not resolve.
    pub(crate) async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, InstallError> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| InstallError::Fetch {
                reason: format!("{host} does not resolve ({e})"),
            })?
            .collect();
        let mut refusal = None;
        let kept: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| match self.check_ip(host, a.ip()) {
                Ok(()) => true,
                Err(e) => {
                    refusal.get_or_insert(e);
                    false
                }
            })
            .collect();
        match (kept.is_empty(), refusal) {
            (true, Some(refusal)) => Err(refusal),
            (true, None) => Err(InstallError::Fetch {
                reason: format!("{host} resolves to no address"),
            }),
            _ => Ok(kept),
        }
    }
}

/// The reqwest resolver: only addresses the guard allows are ever connected to.
#[derive(Debug)]
pub(crate) struct GuardedResolver(pub(crate) Arc<Guard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Boxed as itself, so the fetch can tell the refusal from a failure.
            let addrs = guard
                .resolve(&host)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_owned()
}

fn refused(reason: String) -> InstallError {
    InstallError::Refused { reason }
}

/// What kind of non-public address `ip` is; `None` for a public one.
fn kind_of(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => kind_of_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => kind_of_v4(v4),
            None => kind_of_v6(v6),
        },
    }
}

fn kind_of_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        // 169.254.169.254: the cloud metadata service.
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        // Shared address space; 100.100.100.200 is a cloud metadata address.
        Some("shared (carrier-grade NAT)")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn kind_of_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_unique_local() {
        // fc00::/7, which holds fd00:ec2::254, the AWS metadata service over IPv6.
        Some("private")
    } else if ip.is_unicast_link_local() {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("reserved")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn non_public_addresses_are_refused_by_default() {
        let guard = Guard::default();
        for bad in [
            "https://127.0.0.1/a.pt",
            "https://10.1.2.3/a.pt",
            "https://172.16.0.1/a.pt",
            "https://192.168.1.1/a.pt",
            "https://169.254.169.254/latest/meta-data",
            "https://100.100.100.200/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::]/",
        ] {
            let e = guard.check_url(&url(bad)).unwrap_err();
            assert!(matches!(e, InstallError::Refused { .. }), "{bad}: {e}");
        }
        for good in [
            "https://8.8.8.8/a.pt",
            "https://[2606:4700::1]/",
            "https://example.com/",
        ] {
            guard.check_url(&url(good)).unwrap();
        }
    }

    #[test]
    fn http_hosts_and_private_ranges_follow_the_settings() {
        let mut guard = Guard::default();
        assert!(guard.check_url(&url("http://example.com/")).is_err());
        guard.allow_http = true;
        guard.check_url(&url("http://example.com/")).unwrap();
        guard.hosts = Some(vec!["huggingface.co".into()]);
        guard
            .check_url(&url("https://cdn-lfs.huggingface.co/x"))
            .unwrap();
        guard.check_url(&url("https://huggingface.co/x")).unwrap();
        let e = guard
            .check_url(&url("https://evilhuggingface.co/x"))
            .unwrap_err();
        assert!(e.to_string().contains("LORA_INSTALL_HOSTS"), "{e}");
        guard.hosts = None;
        guard.private = PrivateAccess::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        guard.check_url(&url("http://127.0.0.1:9/")).unwrap();
        guard.check_url(&url("http://10.9.9.9/")).unwrap();
        assert!(guard.check_url(&url("http://127.0.0.2/")).is_err());
        guard.private = PrivateAccess::parse("true").unwrap();
        guard.check_url(&url("http://127.0.0.2/")).unwrap();
        assert_eq!(PrivateAccess::parse("false").unwrap(), PrivateAccess::None);
        assert!(PrivateAccess::parse("10.0.0.0/33").is_err());
        assert!(PrivateAccess::parse("maybe").is_err());
    }

    #[actix_web::test]
    async fn names_that_resolve_to_loopback_are_refused_after_resolution() {
        let guard = Guard::default();
        let e = guard.resolve("localhost").await.unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
        let open = Guard {
            private: PrivateAccess::All,
            ..Guard::default()
        };
        assert!(!open.resolve("localhost").await.unwrap().is_empty());
    }
}
