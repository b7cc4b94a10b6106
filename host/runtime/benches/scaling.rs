//! Scaling across cores: runs the same simulation on 1 and 2 contract threads and reports wall
//! time per simulation and on-CPU time per simulation (from `/proc/thread-self/schedstat`), so
//! contention inside the runtime can be told apart from other load on a shared machine.
//!
//! Run with: `cargo bench -p weft-runtime --bench scaling`
//! (`WEFT_KEEP_RESIDENT_KIB=256 cargo bench ...` to try another `memory_keep_resident`).

use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use weft_runtime::{Invocation, RuntimeConfig, Simulator};
use weft_rwset::{MemoryState, Version};

fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn run(
    sim: &Simulator,
    code: weft_runtime::CodeHash,
    threads: usize,
    per_thread: u32,
) -> (Duration, u64) {
    let mut s = MemoryState::default();
    s.insert(b"key1", b"value-1", Version { block_num: 1, tx_num: 0 });
    let state: weft_runtime::SharedState = Arc::new(s);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let (tx, rx) = mpsc::channel();
    for _ in 0..threads {
        let (sim2, st, b, tx) = (sim.clone(), state.clone(), barrier.clone(), tx.clone());
        sim.spawn_contract_thread("scaling", move || {
            let inv = Invocation::new("kv", "Put", &["key1", "value-2"]);
            b.wait();
            let cpu = on_cpu_ns();
            for _ in 0..per_thread {
                sim2.invoke(&code, &inv, st.clone(), None).unwrap().unwrap();
            }
            tx.send(on_cpu_ns() - cpu).unwrap();
        })
        .unwrap();
    }
    barrier.wait();
    let started = Instant::now();
    let cpu: u64 = (0..threads).map(|_| rx.recv().unwrap()).sum();
    (started.elapsed(), cpu)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("weft-scaling-{}", std::process::id()));
    let mut config = RuntimeConfig::default();
    if let Some(kib) =
        std::env::var("WEFT_KEEP_RESIDENT_KIB").ok().and_then(|v| v.parse::<usize>().ok())
    {
        config.memory_keep_resident = kib << 10;
    }
    println!("memory_keep_resident: {} KiB", config.memory_keep_resident >> 10);
    let sim = Simulator::open(&dir, config).unwrap();
    let code = sim.deploy(&std::fs::read(weft_contract_artifacts::KV).unwrap()).unwrap();
    run(&sim, code, 1, 20_000); // warm up
    let n = 100_000u32;
    for threads in [1usize, 2] {
        let per_thread = n / threads as u32;
        let (wall, cpu) = run(&sim, code, threads, per_thread);
        let total = f64::from(per_thread) * threads as f64;
        println!(
            "{threads} thread(s): {:.2} us wall per simulation ({:.0}/s), {:.2} us on-CPU per simulation",
            wall.as_secs_f64() * 1e6 / total,
            total / wall.as_secs_f64(),
            cpu as f64 / 1e3 / total
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
