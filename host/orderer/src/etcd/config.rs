//! [`EtcdConfig`]: the node's `[orderer.etcd]` table.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The key prefix of Weft's channels in etcd by default.
pub const DEFAULT_PREFIX: &str = "/weft/";

/// Where the etcd cluster is and how a channel's log is kept there (see the
/// [module](super)).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct EtcdConfig {
    /// The cluster's client URLs (`http://host:2379`); requests are balanced over them.
    pub endpoints: Vec<String>,
    /// The prefix of the channels' keys; a channel's keys are under `<prefix><channel>/`.
    pub prefix: String,
    /// Blocks kept in etcd; older ones are read from each node's ledger.
    pub window: u64,
    /// The leader compacts etcd's history every this many blocks (0: never).
    pub compact_every: u64,
    /// The leader defragments etcd's members, one after the other, every this many blocks
    /// (0: never): compaction frees history inside etcd's database file, defragmenting
    /// gives the space back to the file system. A member answers nothing while it
    /// defragments, so they take turns.
    pub defrag_every: u64,
    /// The lease of a node's candidacy, in seconds: a leader that stops renewing it (a
    /// crash, a partition) is replaced this long after.
    pub lease_ttl_secs: i64,
    /// etcd's `--max-request-bytes` (1.5 MiB by default): no write is larger.
    pub max_request_bytes: usize,
    /// etcd's `--max-txn-ops` (128 by default): no transaction has more operations.
    pub max_txn_ops: usize,
    /// Longest wait for one etcd request (connecting at start, a broadcast, an append), in
    /// milliseconds.
    pub timeout_ms: u64,
    /// TLS to the cluster (its endpoints are then `https://`); none: plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<EtcdTls>,
}

/// TLS to the etcd cluster: the CA that signs the members' certificates and, for etcd's
/// `--client-cert-auth`, this node's client certificate and key (PEM files).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EtcdTls {
    /// The CA certificate(s) the members' certificates are checked against.
    pub ca: PathBuf,
    /// The client certificate chain, when etcd demands one (with `key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// The name the members' certificates are checked for, when it is not the endpoints'
    /// host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            endpoints: Vec::new(),
            prefix: DEFAULT_PREFIX.into(),
            window: 1000,
            compact_every: 100,
            defrag_every: 10_000,
            lease_ttl_secs: 5,
            max_request_bytes: 3 << 19,
            max_txn_ops: 128,
            timeout_ms: 5000,
            tls: None,
        }
    }
}

/// What a block transaction holds besides the envelopes' bytes: the keys, the header, the
/// new tip and the deletes.
const TXN_RESERVE: usize = 16 << 10;

impl EtcdConfig {
    /// The most envelope bytes one block (and one envelope) may carry so that appending it
    /// stays under [`max_request_bytes`](Self::max_request_bytes), for blocks of at most
    /// `max_txs` envelopes: the request size less a reserve for keys, the header and each
    /// envelope's framing. `None` if nothing would fit.
    pub fn block_budget(&self, max_txs: usize) -> Option<usize> {
        let per_op = self.prefix.len() + 64;
        let reserve = TXN_RESERVE + self.max_txn_ops * per_op + max_txs.max(1) * 8;
        self.max_request_bytes.checked_sub(reserve).filter(|budget| *budget >= 1024)
    }

    /// Refuses settings that cannot work, naming the setting.
    pub fn check(&self, max_txs: usize) -> Result<(), String> {
        if self.endpoints.is_empty() {
            return Err("orderer.etcd.endpoints is empty: name the etcd cluster's client URLs, \
                        e.g. [\"http://127.0.0.1:2379\"]"
                .into());
        }
        if !self.prefix.starts_with('/') || !self.prefix.ends_with('/') {
            return Err(format!(
                "orderer.etcd.prefix {:?} must start and end with '/'",
                self.prefix
            ));
        }
        if self.window == 0 {
            return Err("orderer.etcd.window must be at least 1 block".into());
        }
        if self.lease_ttl_secs < 2 {
            return Err("orderer.etcd.lease_ttl_secs must be at least 2".into());
        }
        if self.max_txn_ops < 8 {
            return Err(
                "orderer.etcd.max_txn_ops must be at least 8 (etcd's default is 128)".into()
            );
        }
        if let Some(tls) = &self.tls {
            if tls.cert.is_some() != tls.key.is_some() {
                return Err("orderer.etcd.tls needs both cert and key, or neither".into());
            }
            if let Some(url) = self.endpoints.iter().find(|url| !url.starts_with("https://")) {
                return Err(format!(
                    "orderer.etcd.tls is set, so the endpoints must be https:// URLs; {url} is not"
                ));
            }
        }
        if self.block_budget(max_txs).is_none() {
            return Err(format!(
                "orderer.etcd.max_request_bytes {} leaves no room for envelopes once keys and \
                 framing are counted (etcd's default is 1572864)",
                self.max_request_bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_leaves_room_for_keys_and_refuses_nonsense() {
        let config =
            EtcdConfig { endpoints: vec!["http://127.0.0.1:2379".into()], ..EtcdConfig::default() };
        let budget = config.block_budget(500).unwrap();
        assert!(budget < config.max_request_bytes && budget > 1 << 20, "{budget}");
        assert!(config.check(500).is_ok());
        let tiny = EtcdConfig { max_request_bytes: 4096, ..config.clone() };
        assert!(tiny.check(500).unwrap_err().contains("max_request_bytes"));
        let empty = EtcdConfig::default();
        assert!(empty.check(500).unwrap_err().contains("endpoints"));
        let prefix = EtcdConfig { prefix: "weft".into(), ..config };
        assert!(prefix.check(500).unwrap_err().contains("prefix"));
    }
}
