//! Child processes of tests (the real `operator` binary): stopped the way a user stops
//! them, even when an assertion fails first.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// SIGTERM (the controller shuts down cleanly), then SIGKILL if it is still running
/// after `grace`.
pub fn stop(child: &mut Child, grace: Duration) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Stops the child (see [`stop`], 15 s grace) when dropped.
pub struct StopOnDrop<'a>(pub &'a mut Child);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        stop(self.0, Duration::from_secs(15));
    }
}

/// The path of an executable on `PATH` (`etcd`, `prometheus`: installed by `make deps`),
/// or a loud SKIP.
///
/// # Panics
///
/// When it is missing and `CI=true`: CI must never skip a real-binary test.
pub fn binary_or_skip(test: &str, name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let why = format!("`{name}` is not on PATH; `make deps` installs it");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: {why} (CI=true: this test must run)");
        }
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIP {test}: {why}. This test did NOT run. ***\n"
        );
    }
    found
}

/// A TCP port on loopback that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
