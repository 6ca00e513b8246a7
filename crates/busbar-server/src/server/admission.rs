//! Caps on open client connections, all clients together and per IP
//! address, and the refusal a connection over a cap gets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// `max_connections` when the open-file limit cannot be read.
const FALLBACK_MAX_CONNECTIONS: u32 = 4096;

/// What a plain-HTTP client over a cap reads before the connection closes.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n";

/// Admits connections while both caps allow.
pub(crate) struct Admission {
    total: Arc<Semaphore>,
    max_total: u32,
    open: Arc<AtomicU64>,
    per_ip: Arc<Mutex<HashMap<IpAddr, u32>>>,
    max_per_ip: u32,
}

/// Which cap a connection is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverCap {
    /// `max_connections`.
    Total,
    /// `max_connections_per_ip`.
    PerIp,
}

impl OverCap {
    fn name(self) -> &'static str {
        match self {
            Self::Total => "max_connections",
            Self::PerIp => "max_connections_per_ip",
        }
    }
}

/// One open connection's place under both caps, given back on drop; the
/// connection's task holds it for as long as the connection is open.
pub(crate) struct Admitted {
    _permit: OwnedSemaphorePermit,
    open: Arc<AtomicU64>,
    ip: IpAddr,
    per_ip: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl Admission {
    /// Caps of `max_total` connections (`None`: derived from the open-file
    /// limit) and `max_per_ip` from one address.
    pub(crate) fn new(max_total: Option<u32>, max_per_ip: u32) -> Self {
        let max_total = max_total
            .unwrap_or_else(derived_max_connections)
            .min(u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX));
        Self {
            total: Arc::new(Semaphore::new(max_total as usize)),
            max_total,
            open: Arc::new(AtomicU64::new(0)),
            per_ip: Arc::new(Mutex::new(HashMap::new())),
            max_per_ip,
        }
    }

    /// The cap on all connections together.
    pub(crate) fn max_total(&self) -> u32 {
        self.max_total
    }

    /// A place for a connection from `ip`, or the cap it is over.
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<Admitted, OverCap> {
        // An IPv4 client on a dual-stack socket is counted as itself.
        let ip = ip.to_canonical();
        let permit = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| OverCap::Total)?;
        let mut per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let open = per_ip.entry(ip).or_insert(0);
        if *open >= self.max_per_ip {
            return Err(OverCap::PerIp);
        }
        *open += 1;
        report_open(self.open.fetch_add(1, Ordering::Relaxed) + 1);
        Ok(Admitted {
            _permit: permit,
            open: self.open.clone(),
            ip,
            per_ip: self.per_ip.clone(),
        })
    }

    /// Waits until every admitted connection has closed.
    pub(crate) async fn all_closed(&self) {
        let _ = self.total.acquire_many(self.max_total).await;
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = per_ip.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                per_ip.remove(&self.ip);
            }
        }
        report_open(self.open.fetch_sub(1, Ordering::Relaxed) - 1);
    }
}

/// Sets the gauge outright rather than stepping it, so a step lost before
/// the recorder was installed does not skew it for good.
fn report_open(open: u64) {
    metrics::gauge!("busbar_client_connections").set(open as f64);
}

/// Closes a connection over a cap. A plain-HTTP client is first told 503
/// in the one write a fresh socket's empty send buffer takes without
/// waiting (a TLS client could read nothing before a handshake); the
/// refusal never waits, so a flood of refused connections costs the accept
/// loop almost nothing.
pub(crate) fn refuse(stream: TcpStream, over: OverCap, plain: bool) {
    if plain {
        let _ = stream.try_write(REFUSAL);
    }
    metrics::counter!("busbar_client_connections_refused_total", "reason" => over.name())
        .increment(1);
    tracing::debug!(
        peer = ?stream.peer_addr().ok(),
        cap = over.name(),
        "connection refused: over its cap"
    );
}

/// Half the soft open-file limit, leaving the rest for upstream connections
/// and files; [`FALLBACK_MAX_CONNECTIONS`] where it cannot be read.
fn derived_max_connections() -> u32 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| soft_open_files(&limits))
        .map_or(FALLBACK_MAX_CONNECTIONS, |soft| {
            u32::try_from(soft / 2).unwrap_or(u32::MAX).max(1)
        })
}

/// The soft limit in the `Max open files` line of `/proc/self/limits`.
fn soft_open_files(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn each_address_has_its_own_cap_and_a_closed_connection_frees_its_place() {
        let admission = Admission::new(Some(10), 2);
        let first = admission.admit(ip(1)).expect("first");
        let _second = admission.admit(ip(1)).expect("second");
        assert_eq!(admission.admit(ip(1)).err(), Some(OverCap::PerIp));
        assert!(
            admission.admit(ip(2)).is_ok(),
            "another address is not affected"
        );
        drop(first);
        assert!(admission.admit(ip(1)).is_ok());
    }

    #[test]
    fn the_total_cap_counts_every_address() {
        let admission = Admission::new(Some(2), 5);
        let _a = admission.admit(ip(1)).expect("a");
        let b = admission.admit(ip(2)).expect("b");
        assert_eq!(admission.admit(ip(3)).err(), Some(OverCap::Total));
        drop(b);
        assert!(admission.admit(ip(3)).is_ok());
    }

    #[test]
    fn a_refusal_for_one_address_does_not_use_up_a_total_place() {
        let admission = Admission::new(Some(2), 1);
        let _a = admission.admit(ip(1)).expect("a");
        assert_eq!(admission.admit(ip(1)).err(), Some(OverCap::PerIp));
        assert!(admission.admit(ip(2)).is_ok());
    }

    #[test]
    fn an_ipv4_mapped_address_counts_as_the_ipv4_address() {
        let admission = Admission::new(Some(10), 1);
        let _a = admission.admit(ip(1)).expect("a");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("an address");
        assert_eq!(admission.admit(mapped).err(), Some(OverCap::PerIp));
    }

    #[test]
    fn the_soft_open_file_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63457                63457                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(soft_open_files(limits), Some(1024));
        assert_eq!(
            soft_open_files(
                "Max open files            unlimited            unlimited            files\n"
            ),
            None
        );
        assert_eq!(soft_open_files(""), None);
    }
}
