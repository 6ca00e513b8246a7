//! The SSRF guard: which upstream `base_url`s Busbar refuses without
//! `allow_private: true`.
//!
//! A gateway holding provider keys must not be talked into sending them, or
//! its network position, to an internal service. Without `allow_private` a
//! `base_url` must be `https://` and its host must not be, in any spelling,
//! a loopback, private, link-local, CGNAT, unique-local, multicast or
//! metadata address, nor a name that only resolves locally (`localhost`,
//! single-label names, `.internal`, `.local`, …).
//!
//! The check is textual: no DNS lookup happens here, so a public name that
//! resolves to a private address is caught only if the server checks the
//! resolved address with [`blocked_address`]. Unusual IPv4 spellings
//! (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) are refused even with
//! `allow_private`, because URL parsers disagree about them and no one
//! writes them by accident.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is not a public unicast address, or `None` when it is.
///
/// Covers loopback, unspecified, RFC 1918, CGNAT (100.64.0.0/10), link-local,
/// cloud metadata endpoints, IETF special ranges, multicast and reserved
/// space, IPv6 unique-local, link-local and site-local, and IPv6 forms that
/// embed a blocked IPv4 address (mapped, compatible, NAT64, 6to4). Use it on
/// resolved addresses to close the gap a textual check leaves.
pub fn blocked_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const METADATA: [[u8; 4]; 3] = [
        [169, 254, 169, 254], // AWS, GCP, Azure, OpenStack, …
        [168, 63, 129, 16],   // Azure wire server
        [100, 100, 100, 200], // Alibaba Cloud
    ];
    let o = ip.octets();
    if METADATA.contains(&o) {
        return Some("a cloud metadata address");
    }
    Some(match o {
        [0, ..] => "a \"this network\" address (0.0.0.0/8)",
        [10, ..] => "a private address (RFC 1918)",
        [100, b, ..] if b & 0xc0 == 64 => "a carrier-grade NAT address (100.64.0.0/10)",
        [127, ..] => "a loopback address",
        [169, 254, ..] => "a link-local address",
        [172, b, ..] if b & 0xf0 == 16 => "a private address (RFC 1918)",
        [192, 0, 0, _] => "an IETF special-purpose address (192.0.0.0/24)",
        [192, 168, ..] => "a private address (RFC 1918)",
        [198, b, ..] if b & 0xfe == 18 => "a benchmarking address (198.18.0.0/15)",
        [a, ..] if a >= 224 => "a multicast, reserved or broadcast address",
        _ => return None,
    })
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return blocked_v4(v4);
    }
    Some(match s {
        [0, 0, 0, 0, 0, 0, _, _] => "a deprecated IPv4-compatible address",
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return blocked_v4(embedded(hi, lo)),
        [0x64, 0xff9b, 1, ..] => "a local-use NAT64 address",
        [0x2002, hi, lo, ..] => return blocked_v4(embedded(hi, lo)),
        [0x100, 0, 0, 0, ..] => "a discard-only address",
        [a, ..] if a & 0xfe00 == 0xfc00 => "a unique local address (fc00::/7)",
        [a, ..] if a & 0xffc0 == 0xfe80 => "a link-local address",
        [a, ..] if a & 0xffc0 == 0xfec0 => "a site-local address",
        [a, ..] if a & 0xff00 == 0xff00 => "a multicast address",
        _ => return None,
    })
}

/// Host names that can only reach something inside the deployment.
fn blocked_name(host: &str) -> Option<&'static str> {
    const METADATA: [&str; 5] = [
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    ];
    const LOCAL_SUFFIXES: [&str; 5] = [".internal", ".local", ".localdomain", ".home.arpa", ".lan"];
    if METADATA.contains(&host) {
        return Some("a cloud metadata host");
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return Some("a localhost name");
    }
    if !host.contains('.') {
        return Some("a single-label host name, which resolves only on a local network");
    }
    LOCAL_SUFFIXES
        .iter()
        .any(|suffix| host.ends_with(suffix))
        .then_some("a name under a private-network domain")
}

/// The parts of a `scheme://host[:port]/path` URL Busbar cares about.
struct Parts<'a> {
    scheme: String,
    host: &'a str,
    port: Option<&'a str>,
    rest: &'a str,
}

fn split(url: &str) -> Result<Parts<'_>, String> {
    let Some((scheme, after)) = url.split_once("://") else {
        return Err("must be an absolute URL starting with https://".to_owned());
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    if authority.contains('@') {
        return Err("must not contain credentials (`user@host`)".to_owned());
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, tail)) = bracketed.split_once(']') else {
            return Err("has an unclosed `[` in its host".to_owned());
        };
        match tail {
            "" => (host, None),
            _ => match tail.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err("has text after its IPv6 host".to_owned()),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    Ok(Parts {
        scheme: scheme.to_ascii_lowercase(),
        host,
        port,
        rest,
    })
}

/// The lowercased host of a URL, without brackets, port or trailing dot.
pub(crate) fn url_host(url: &str) -> Option<String> {
    let parts = split(url).ok()?;
    Some(parts.host.trim_end_matches('.').to_ascii_lowercase())
}

/// Checks a `base_url` and returns it with trailing `/` trimmed, or says why
/// it is refused.
pub(crate) fn check_base_url(raw: &str, allow_private: bool) -> Result<String, String> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".to_owned());
    }
    // Trim only after the scheme, so `https://` reports a missing host.
    let url = match raw.split_once("://") {
        Some((scheme, after)) => format!("{scheme}://{}", after.trim_end_matches('/')),
        None => raw.to_owned(),
    };
    let parts = split(&url)?;
    match parts.scheme.as_str() {
        "https" => {}
        "http" if allow_private => {}
        "http" => {
            return Err("must use https:// (set `allow_private: true` for a plain-http upstream such as a local server)".to_owned())
        }
        _ => return Err("must start with https://".to_owned()),
    }
    if parts.rest.contains(['?', '#']) {
        return Err("must not carry a query or fragment; put a query in `path`".to_owned());
    }
    if let Some(port) = parts.port {
        if port.parse::<u16>().map_or(true, |p| p == 0) || !port.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("has an invalid port `{port}`"));
        }
    }
    check_host(parts.host, allow_private)?;
    Ok(url)
}

fn check_host(raw_host: &str, allow_private: bool) -> Result<(), String> {
    let refuse = |host: &str, why: &str| {
        Err(format!(
            "host `{host}` is {why}; set `allow_private: true` to allow a private upstream"
        ))
    };
    if raw_host.is_empty() {
        return Err("has no host".to_owned());
    }
    if raw_host.contains('%') {
        return Err("must not percent-encode its host or carry an IPv6 zone".to_owned());
    }
    if !raw_host.is_ascii() {
        return Err("has a non-ASCII host; write it in its punycode (xn--) form".to_owned());
    }
    if raw_host.contains(':') {
        let ip: Ipv6Addr = raw_host
            .parse()
            .map_err(|_| format!("host `[{raw_host}]` is not a valid IPv6 address"))?;
        return match blocked_v6(ip) {
            Some(why) if !allow_private => refuse(raw_host, why),
            _ => Ok(()),
        };
    }
    let host = raw_host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(parsed) = parse_ipv4_loose(&host) {
        let (ip, canonical) = parsed.map_err(|()| {
            format!("host `{host}` ends in a number but is not a valid IPv4 address")
        })?;
        if !canonical {
            return Err(format!(
                "host `{host}` is an unusual spelling of the IPv4 address {ip}; write it as {ip}"
            ));
        }
        return match blocked_v4(ip) {
            Some(why) if !allow_private => refuse(&host, why),
            _ => Ok(()),
        };
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !host.split('.').all(valid_label) {
        return Err(format!("host `{host}` is not a valid host name"));
    }
    match blocked_name(&host) {
        Some(why) if !allow_private => refuse(&host, why),
        _ => Ok(()),
    }
}

/// Parses a host the way `inet_aton` and the WHATWG URL standard do: one to
/// four dot-separated parts, each decimal, `0x` hex or leading-zero octal,
/// the last filling the remaining bytes.
///
/// `None` when the host does not end in a numeric label (it is a name);
/// `Some(Err)` when it does but is not a valid address; otherwise the
/// address and whether it was written in the canonical dotted-quad form.
fn parse_ipv4_loose(host: &str) -> Option<Result<(Ipv4Addr, bool), ()>> {
    let last = host.rsplit('.').next().unwrap_or(host);
    let numeric_label = !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || last
                .strip_prefix("0x")
                .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit())));
    if !numeric_label {
        return None;
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return Some(Err(()));
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        let value = if let Some(hex) = part.strip_prefix("0x") {
            if hex.is_empty() {
                Some(0)
            } else {
                u64::from_str_radix(hex, 16).ok()
            }
        } else if part.len() > 1 && part.starts_with('0') {
            u64::from_str_radix(&part[1..], 8).ok()
        } else if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse::<u64>().ok()
        } else {
            None
        };
        let Some(value) = value else {
            return Some(Err(()));
        };
        numbers.push(value);
    }
    let (last, init) = numbers.split_last()?;
    if init.iter().any(|&n| n > 255) || *last >= 1u64 << (8 * (5 - numbers.len())) {
        return Some(Err(()));
    }
    let mut address = *last;
    for (i, &n) in init.iter().enumerate() {
        address |= n << (8 * (3 - i));
    }
    let canonical = parts.len() == 4 && parts.iter().all(|p| *p == "0" || !p.starts_with('0'));
    let address = u32::try_from(address).ok()?;
    Some(Ok((Ipv4Addr::from(address), canonical)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        check_base_url(url, false).expect_err(url)
    }

    #[test]
    fn public_https_urls_pass_and_lose_trailing_slashes() {
        for (raw, want) in [
            ("https://api.openai.com", "https://api.openai.com"),
            (
                "https://api.groq.com/openai/",
                "https://api.groq.com/openai",
            ),
            (
                "HTTPS://api.example.com:8443//",
                "HTTPS://api.example.com:8443",
            ),
            ("https://8.8.8.8", "https://8.8.8.8"),
            (
                "https://[2606:4700::1111]:443",
                "https://[2606:4700::1111]:443",
            ),
        ] {
            assert_eq!(check_base_url(raw, false).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn plain_http_needs_allow_private() {
        assert!(refused("http://api.openai.com").contains("https://"));
        assert!(check_base_url("http://api.openai.com", true).is_ok());
        assert!(refused("ftp://x.example.com").contains("https://"));
        assert!(refused("api.openai.com").contains("absolute URL"));
    }

    #[test]
    fn private_literal_addresses_are_refused() {
        for url in [
            "https://127.0.0.1",
            "https://127.8.9.10:8443",
            "https://0.0.0.0",
            "https://10.1.2.3",
            "https://172.16.0.1",
            "https://172.31.255.255",
            "https://192.168.1.1",
            "https://169.254.1.1",
            "https://169.254.169.254/latest",
            "https://100.64.0.1",
            "https://100.127.255.255",
            "https://224.0.0.1",
            "https://255.255.255.255",
            "https://[::1]",
            "https://[::]",
            "https://[fd00:ec2::254]",
            "https://[fe80::1]",
            "https://[::ffff:127.0.0.1]",
            "https://[::ffff:7f00:1]",
            "https://[64:ff9b::a00:1]",
            "https://[2002:7f00:1::]",
        ] {
            assert!(refused(url).contains("allow_private"), "{url}");
            assert!(
                check_base_url(url, true).is_ok(),
                "{url} with allow_private"
            );
        }
        assert!(refused("https://169.254.169.254").contains("metadata"));
    }

    #[test]
    fn neighbours_of_private_ranges_pass() {
        for url in [
            "https://172.32.0.1",
            "https://100.128.0.1",
            "https://11.0.0.1",
            "https://[2606:4700::1]",
        ] {
            assert!(check_base_url(url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn local_and_metadata_names_are_refused() {
        for url in [
            "https://localhost",
            "https://LOCALHOST.:8080",
            "https://api.localhost",
            "https://metadata.google.internal",
            "https://metadata",
            "https://vllm:8000",
            "https://llm.corp.internal",
            "https://printer.local",
        ] {
            assert!(refused(url).contains("allow_private"), "{url}");
            assert!(
                check_base_url(url, true).is_ok(),
                "{url} with allow_private"
            );
        }
    }

    #[test]
    fn odd_ipv4_encodings_are_refused_even_when_private_is_allowed() {
        for url in [
            "https://2130706433",
            "https://0x7f000001",
            "https://0177.0.0.1",
            "https://127.1",
            "https://0x7f.0.0.1",
            "https://010.0.0.1",
            "https://0",
        ] {
            assert!(
                refused(url).contains("unusual spelling"),
                "{url}: {}",
                refused(url)
            );
            assert!(check_base_url(url, true).is_err(), "{url}");
        }
        assert!(refused("https://256.1.1.1").contains("not a valid IPv4"));
        assert!(refused("https://1.2.3.4.5").contains("not a valid IPv4"));
        assert!(refused("https://example.123").contains("not a valid IPv4"));
    }

    #[test]
    fn malformed_urls_are_refused() {
        assert!(refused("https://user:pw@api.example.com").contains("credentials"));
        assert!(refused("https://evil.example.com@127.0.0.1").contains("credentials"));
        assert!(refused("https://api.example.com/v1?x=1").contains("query"));
        assert!(refused("https://%31%32%37.0.0.1").contains("percent"));
        assert!(refused("https://[fe80::1%25eth0]").contains("percent"));
        assert!(refused("https://").contains("no host"));
        assert!(refused("https://api.example.com:99999").contains("port"));
        assert!(refused("https://api.example.com:0").contains("port"));
        assert!(refused("https://api example.com").contains("whitespace"));
        assert!(refused("https://bücher.example").contains("punycode"));
        assert!(refused("https://[::1").contains("unclosed"));
        assert!(refused("https://[zz::1]").contains("IPv6"));
    }

    #[test]
    fn blocked_address_serves_resolved_addresses() {
        assert_eq!(
            blocked_address("127.0.0.1".parse().unwrap()),
            Some("a loopback address")
        );
        assert_eq!(blocked_address("1.1.1.1".parse().unwrap()), None);
        assert_eq!(blocked_address("::ffff:1.1.1.1".parse().unwrap()), None);
        assert!(blocked_address("fc00::1".parse().unwrap()).is_some());
    }

    #[test]
    fn url_host_strips_port_brackets_and_case() {
        assert_eq!(
            url_host("https://Bedrock-Runtime.us-west-2.amazonaws.com:443/x").as_deref(),
            Some("bedrock-runtime.us-west-2.amazonaws.com")
        );
        assert_eq!(url_host("https://[::1]:80").as_deref(), Some("::1"));
    }
}
