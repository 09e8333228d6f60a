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
