//! Real etcd processes for the etcd orderer's tests: [`EtcdCluster::start`] runs `n` members
//! on free loopback ports with their data in a temporary directory, waits until the cluster
//! is healthy, and kills them when dropped. It needs the `etcd` binary (Debian's
//! `etcd-server`, which `.ci/run` installs; or `WEFT_ETCD` naming one) and fails, saying so,
//! without it: an etcd test never passes without etcd.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running etcd cluster.
#[derive(Debug)]
pub struct EtcdCluster {
    dir: tempfile::TempDir,
    members: Vec<Member>,
}

#[derive(Debug)]
struct Member {
    client_url: String,
    /// Plain HTTP, for `/health` whether or not clients use TLS.
    metrics: String,
    /// `etcd`'s command line, to start the member again.
    binary: String,
    args: Vec<std::ffi::OsString>,
    log: std::path::PathBuf,
    child: Option<Child>,
}

impl Member {
    /// Starts the member's process (again: its data directory keeps its identity).
    fn spawn(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log");
        let child = Command::new(&self.binary)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary));
        self.child = Some(child);
    }
}

/// The PEM files of a cluster that serves clients over TLS and demands their certificates.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The members' certificate (for `127.0.0.1`).
    pub cert: std::path::PathBuf,
    /// Its key.
    pub key: std::path::PathBuf,
    /// The CA that signs the members' and the clients' certificates.
    pub ca: std::path::PathBuf,
}

/// A port free on the loopback interface now, for a server a test starts later: drawn at
/// random below Linux's ephemeral range (32768 and up), where the kernel puts the local
/// ends of outgoing connections and of `bind(0)`, so that none of the test's own
/// connections takes it before the server binds it; and never the same twice in one test
/// process.
pub fn free_port() -> u16 {
    use std::collections::BTreeSet;
    use std::hash::BuildHasher;
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let random = std::collections::hash_map::RandomState::new();
    let mut handed_out = HANDED_OUT.lock().expect("ports lock");
    for attempt in 0u32.. {
        let port = 10_000 + (random.hash_one(attempt) % 22_000) as u16;
        if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    unreachable!("a free port below 32000")
}

/// The etcd binary.
fn etcd_binary() -> String {
    let binary = std::env::var("WEFT_ETCD").unwrap_or_else(|_| "etcd".into());
    match Command::new(&binary).arg("--version").output() {
        Ok(out) if out.status.success() => binary,
        other => panic!(
            "the etcd orderer's tests run real etcd processes, and `{binary} --version` failed \
             ({other:?}): install etcd (Debian: apt-get install etcd-server, as .ci/run does) \
             or set WEFT_ETCD to an etcd binary"
        ),
    }
}

impl EtcdCluster {
    /// Starts an `n`-member cluster and waits until every member reports healthy.
    pub fn start(n: usize) -> EtcdCluster {
        EtcdCluster::start_with(n, None)
    }

    /// Starts an `n`-member cluster serving clients over TLS with `tls`, demanding client
    /// certificates signed by its CA (`--client-cert-auth`).
    pub fn start_with(n: usize, tls: Option<&TlsFiles>) -> EtcdCluster {
        let binary = etcd_binary();
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}"))
            .collect();
        let mut members = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let client_url = format!("{scheme}://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let metrics = format!("127.0.0.1:{}", free_port());
            let mut args: Vec<std::ffi::OsString> = Vec::new();
            if let Some(tls) = tls {
                args.extend(["--cert-file".into(), tls.cert.clone().into()]);
                args.extend(["--key-file".into(), tls.key.clone().into()]);
                args.extend(["--trusted-ca-file".into(), tls.ca.clone().into()]);
                args.push("--client-cert-auth".into());
            }
            let data = dir.path().join(format!("m{i}"));
            args.extend([
                "--name".into(),
                format!("m{i}").into(),
                "--data-dir".into(),
                data.into(),
            ]);
            for (flag, value) in [
                ("--listen-client-urls", client_url.clone()),
                ("--advertise-client-urls", client_url.clone()),
                ("--listen-peer-urls", peer_url.clone()),
                ("--initial-advertise-peer-urls", peer_url),
                ("--initial-cluster", initial.join(",")),
                ("--initial-cluster-state", "new".into()),
                ("--initial-cluster-token", "weft-test".into()),
                ("--listen-metrics-urls", format!("http://{metrics}")),
                ("--heartbeat-interval", "50".into()),
                ("--election-timeout", "500".into()),
                ("--logger", "zap".into()),
                ("--log-level", "warn".into()),
            ] {
                args.extend([flag.into(), value.into()]);
            }
            let log = dir.path().join(format!("m{i}.log"));
            let mut member =
                Member { client_url, metrics, binary: binary.clone(), args, log, child: None };
            member.spawn();
            members.push(member);
        }
        let cluster = EtcdCluster { dir, members };
        for i in 0..n {
            cluster.wait_healthy(i);
        }
        cluster
    }

    /// Every member's client URL.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// Kills member `i` (as a crash would).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again after [`EtcdCluster::kill`], with its data (see
    /// [`EtcdCluster::wait_healthy`]).
    pub fn restart(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "member m{i} is running");
        self.members[i].spawn();
    }

    /// Waits (up to a minute) until member `i` answers `/health` with a leader.
    pub fn wait_healthy(&self, i: usize) {
        let address = self.members[i].metrics.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut stream) = TcpStream::connect(&address) {
                let request = format!("GET /health HTTP/1.0\r\nHost: {address}\r\n\r\n");
                let mut answer = String::new();
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_to_string(&mut answer).is_ok()
                    && answer.contains("\"health\":\"true\"")
                {
                    return;
                }
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.path().join(format!("m{i}.log")));
                panic!("etcd member m{i} at {address} is not healthy after a minute: {log:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
