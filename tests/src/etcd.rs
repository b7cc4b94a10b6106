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
    child: Option<Child>,
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

/// A port free on the loopback interface now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
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
            let log = std::fs::File::create(dir.path().join(format!("m{i}.log"))).expect("log");
            let mut command = Command::new(&binary);
            if let Some(tls) = tls {
                command
                    .arg("--cert-file")
                    .arg(&tls.cert)
                    .arg("--key-file")
                    .arg(&tls.key)
                    .arg("--trusted-ca-file")
                    .arg(&tls.ca)
                    .arg("--client-cert-auth");
            }
            let child = command
                .args(["--name", &format!("m{i}")])
                .arg("--data-dir")
                .arg(dir.path().join(format!("m{i}")))
                .args(["--listen-client-urls", &client_url])
                .args(["--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &initial.join(",")])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "weft-test"])
                .args(["--listen-metrics-urls", &format!("http://{metrics}")])
                .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
                .args(["--logger", "zap", "--log-level", "warn"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
            members.push(Member { client_url, metrics, child: Some(child) });
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

    /// Waits (up to a minute) until member `i` answers `/health` with a leader.
    fn wait_healthy(&self, i: usize) {
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
