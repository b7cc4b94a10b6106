//! `weft net up | status | down` as a user runs them: real etcd processes (Debian's
//! `etcd-server`, which `.ci/run` installs, or `WEFT_ETCD`) and real node processes, on
//! loopback ports.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

fn weft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .env_remove("WEFT_DIR")
        .env_remove("WEFT_ENDPOINT")
        .env_remove("WEFT_CHANNEL")
        .output()
        .expect("weft runs")
}

fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "weft failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn failed(output: Output) -> String {
    assert!(!output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A port `P` with `P..P+3` and `P+100..P+106` free now (the nodes' and the etcd members'),
/// `offset` apart from the other tests' choices.
fn free_base(offset: u16) -> u16 {
    let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
    (0..200)
        // Below Linux's ephemeral ports (32768 on), which outgoing connections draw from.
        .map(|i| 20_000 + offset + (std::process::id() % 20) as u16 * 500 + i * 11)
        .find(|base| (0..3).chain(100..106).all(|p| free(base + p)))
        .expect("free loopback ports")
}

/// The pids `net.json` records.
fn pids(dir: &Path) -> Vec<u32> {
    let (etcd, nodes) = pids_of(dir);
    [etcd, nodes].concat()
}

/// The etcd members' and the nodes' pids `net.json` records (0: not running).
fn pids_of(dir: &Path) -> (Vec<u32>, Vec<u32>) {
    let text = std::fs::read_to_string(dir.join("net.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    let of = |list: &str| -> Vec<u32> {
        let pid = |m: &serde_json::Value| m["pid"].as_u64().unwrap_or(0) as u32;
        state[list].as_array().unwrap().iter().map(pid).collect()
    };
    (of("etcd"), of("nodes"))
}

/// Runs `weft net down DIR` when dropped, so a failing test leaves no process behind.
struct Down(std::path::PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = weft(&["net", "down", self.0.to_str().unwrap()]);
    }
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.starts_with(" Z")))
}

#[test]
fn net_up_status_down_and_up_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let net = dir.to_str().unwrap();
    let base = free_base(0).to_string();

    let _down = Down(dir.clone());
    let up = ok(weft(&["net", "up", net, "--port", &base]));
    assert!(up.contains("network up"), "{up}");
    let started = pids(&dir);
    assert_eq!(started.len(), 5, "3 etcd members and 2 nodes");
    assert!(started.iter().all(|pid| running(*pid)));
    // Each organization's directory holds its own keys only.
    assert!(dir.join("Org1/keys/Org1/client.key").exists());
    assert!(!dir.join("Org1/keys/Org2").exists());

    // One node is elected to cut the blocks (within a moment of starting); the samples are
    // deployed, and both nodes come to hold the same chain (Org2's may be a block behind
    // for a moment).
    let chains = |status: &str| -> Vec<String> {
        let chain = |l: &str| {
            l.split(": ").nth(1).unwrap_or("").split(", cuts").next().unwrap().to_string()
        };
        status.lines().filter(|l| l.contains(" node ")).map(chain).collect()
    };
    let mut status = ok(weft(&["net", "status", net]));
    for _ in 0..50 {
        let same = chains(&status).windows(2).all(|w| w[0] == w[1]);
        if status.matches("ordering leader").count() == 1 && same {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        status = ok(weft(&["net", "status", net]));
    }
    for line in ["Org1 node", "Org2 node"] {
        assert!(status.contains(line), "{status}");
    }
    let both = chains(&status);
    assert_eq!(both.len(), 2, "{status}");
    assert!(!both[0].starts_with("height 0") && both[0] == both[1], "{status}");
    // A transaction through Org1's node needs Org2's endorsement too (both of two), and
    // Org2's node reads what it wrote.
    let org = |org: &str| dir.join(org).to_str().unwrap().to_string();
    let done = ok(weft(&["--dir", &org("Org1"), "invoke", "kv", "Put", "greeting", "hello"]));
    assert!(done.contains("VALID"), "{done}");
    let mut read = String::new();
    for _ in 0..50 {
        read = ok(weft(&["--dir", &org("Org2"), "query", "kv", "Get", "greeting"]));
        if read.contains("hello") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(read.contains("hello"), "{read}");
    let tx_id = done.split("\"tx_id\": \"").nth(1).unwrap().split('"').next().unwrap();
    let tx = ok(weft(&["--dir", &org("Org2"), "tx", "get", tx_id]));
    assert!(tx.contains("Org1") && tx.contains("Org2"), "endorsed by both: {tx}");
    assert_eq!(status.matches(": healthy").count(), 3, "{status}");
    assert_eq!(status.matches("ordering leader").count(), 1, "one node cuts: {status}");

    let again = failed(weft(&["net", "up", net, "--port", &base]));
    assert!(again.contains("up already") && again.contains("weft net down"), "{again}");

    ok(weft(&["net", "down", net]));
    assert!(started.iter().all(|pid| !running(*pid)), "a process outlived `net down`");
    let stopped = ok(weft(&["net", "status", net]));
    assert_eq!(stopped.matches(" stopped").count(), 5, "{stopped}");

    // The same network again, from its data.
    ok(weft(&["net", "up", net, "--port", &base]));
    let status = ok(weft(&["net", "status", net]));
    assert_eq!(status.matches("running: height").count(), 2, "{status}");
    ok(weft(&["net", "down", net]));
}

/// `weft --dir DIR/ORG invoke ...`, made again (up to a minute) while it fails: what a client
/// does while the network recovers.
fn invoke_until_committed(dir: &Path, org: &str, args: &[&str]) -> String {
    let org_dir = dir.join(org);
    let mut last = String::new();
    for _ in 0..60 {
        let out = weft(&[&["--dir", org_dir.to_str().unwrap(), "invoke"], args].concat());
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    panic!("{args:?} through {org} never committed: {last}");
}

/// Three organizations (the samples need two of three); the node that cuts the blocks is
/// killed with SIGKILL: transactions through the others still commit (another node leads);
/// `weft net up` starts the killed node again, and it catches up to the same chain.
#[test]
fn three_organizations_go_on_without_their_killed_leader_and_it_catches_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let net = dir.to_str().unwrap();
    let base = free_base(200).to_string();
    let _down = Down(dir.clone());
    ok(weft(&["net", "up", net, "--orgs", "3", "--port", &base]));
    let leader = |status: &str| {
        status.lines().find(|l| l.contains("ordering leader")).map(|l| l[..4].to_string())
    };
    let mut status = ok(weft(&["net", "status", net]));
    for _ in 0..50 {
        if leader(&status).is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        status = ok(weft(&["net", "status", net]));
    }
    let killed = leader(&status).expect("a node leads");
    let index: usize = killed[3..].parse::<usize>().unwrap() - 1;
    let (_, nodes) = pids_of(&dir);
    // SAFETY: `kill` has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(nodes[index] as i32, libc::SIGKILL) }, 0);

    let through = if index == 0 { "Org2" } else { "Org1" };
    for i in 0..5 {
        let (key, value) = (format!("k{i}"), format!("v{i}"));
        let done = invoke_until_committed(&dir, through, &["kv", "Put", &key, &value]);
        assert!(done.contains("VALID"), "{done}");
    }
    // Started again, the killed node catches up to the others.
    ok(weft(&["net", "up", net]));
    let mut heights = Vec::new();
    for _ in 0..100 {
        let status = ok(weft(&["net", "status", net]));
        heights = status
            .lines()
            .filter(|l| l.contains(" node "))
            .map(|l| l.split(": ").nth(1).unwrap_or("").split(", cuts").next().unwrap().to_string())
            .collect();
        if heights.len() == 3 && heights.iter().all(|h| h == &heights[0]) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(heights.len() == 3 && heights.iter().all(|h| h == &heights[0]), "{heights:?}");
    let org_dir = dir.join(&killed);
    let read = ok(weft(&["--dir", org_dir.to_str().unwrap(), "query", "kv", "Get", "k4"]));
    assert!(read.contains("v4"), "{read}");
    ok(weft(&["net", "down", net]));
}

/// A `net.json` of a network with one etcd member and no node, none of them running.
fn write_stopped_network(dir: &Path) {
    let state = r#"{"etcd": [{"name": "m0", "client_url": "http://127.0.0.1:1",
                    "peer_url": "http://127.0.0.1:2"}], "nodes": []}"#;
    std::fs::write(dir.join("net.json"), state).unwrap();
}

/// Output piped into a reader that stops early ends the command quietly, as for any Unix
/// tool (here `weft net status`, whose reader is gone before it prints), not with a panic.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_stopped_network(dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["net", "status", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// While one `weft net up` or `down` works on a network, another is refused, saying why; it
/// goes through once the first has ended.
#[test]
fn a_second_net_command_at_once_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_stopped_network(dir);
    let held = std::fs::File::create(dir.join("net.lock")).unwrap();
    held.lock().unwrap();
    let refused = weft(&["net", "down", dir.to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("another `weft net up` or `weft net down` is working on"), "{stderr}");
    drop(held);
    ok(weft(&["net", "down", dir.to_str().unwrap()]));
}
