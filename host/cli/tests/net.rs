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

/// A port `P` with `P..P+2` and `P+100..P+106` free now (the nodes' and the etcd members').
fn free_base() -> u16 {
    let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
    (0..200)
        .map(|i| 20_000 + (std::process::id() % 100) as u16 * 200 + i * 7)
        .find(|base| (0..2).chain(100..106).all(|p| free(base + p)))
        .expect("free loopback ports")
}

/// The pids `net.json` records.
fn pids(dir: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(dir.join("net.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    let of = |list: &str| -> Vec<u32> {
        state[list].as_array().unwrap().iter().map(|m| m["pid"].as_u64().unwrap() as u32).collect()
    };
    [of("etcd"), of("nodes")].concat()
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
    let base = free_base().to_string();

    let up = ok(weft(&["net", "up", net, "--port", &base]));
    assert!(up.contains("network up"), "{up}");
    let started = pids(&dir);
    assert_eq!(started.len(), 5, "3 etcd members and 2 nodes");
    assert!(started.iter().all(|pid| running(*pid)));
    // Each organization's directory holds its own keys only.
    assert!(dir.join("Org1/keys/Org1/client.key").exists());
    assert!(!dir.join("Org1/keys/Org2").exists());

    // One node is elected to cut the blocks (within a moment of starting).
    let mut status = ok(weft(&["net", "status", net]));
    for _ in 0..50 {
        if status.contains("ordering leader") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        status = ok(weft(&["net", "status", net]));
    }
    for line in ["Org1 node", "Org2 node"] {
        assert!(status.contains(line), "{status}");
    }
    assert_eq!(status.matches("height 0").count(), 2, "{status}");
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
