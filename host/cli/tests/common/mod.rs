//! What the CLI's test files share.

use std::process::{Child, Command};

/// A `weft` process the test started (a node); killed if the test fails before [`stop`]. A
/// node left running would also hold the test's output pipe open, so whoever reads the test
/// run's output (cargo, a pipe) would wait forever.
pub(crate) struct Node(pub(crate) Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops the node with SIGTERM; it must exit cleanly.
pub(crate) fn stop(mut node: Node) {
    let term = Command::new("kill").arg("-TERM").arg(node.0.id().to_string()).status().unwrap();
    assert!(term.success());
    let status = node.0.wait().unwrap();
    assert!(status.success(), "the node exited with {status}");
}
