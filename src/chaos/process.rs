//! Is the process that holds an experiment still alive?
//!
//! A pid alone is not enough: pids are recycled, and a recycled pid would keep an
//! orphaned fault in place forever. The holder is therefore identified by its pid and
//! its start time (`/proc/<pid>/stat` field 22, in clock ticks since boot).

use super::model::Holder;

fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_ticks(&stat)
}

/// Field 22 of a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces, so fields are counted after the last `)`.
pub(crate) fn parse_start_ticks(stat: &str) -> Option<u64> {
    let rest = stat.rsplit_once(')')?.1;
    // After ")" come fields 3.. ; field 22 is the 20th of them.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process as a holder; `None` where `/proc` is unavailable.
pub(crate) fn current_holder() -> Option<Holder> {
    let pid = std::process::id();
    Some(Holder {
        pid,
        start_ticks: start_ticks(pid)?,
    })
}

/// True while the holder process runs. Where `/proc` is unavailable the holder is
/// assumed alive, so the experiment waits for its planned end instead.
pub(crate) fn holder_alive(holder: &Holder) -> bool {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return true;
    }
    start_ticks(holder.pid) == Some(holder.start_ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_read_after_a_command_name_with_spaces() {
        let stat =
            "1234 (tokio runtime) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 8 0 987654 0 0";
        assert_eq!(parse_start_ticks(stat), Some(987_654));
        assert_eq!(parse_start_ticks("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_recycled_pid_is_not_its_holder() {
        let me = current_holder().expect("linux /proc");
        assert!(holder_alive(&me));
        let recycled = Holder {
            pid: me.pid,
            start_ticks: me.start_ticks + 1,
        };
        assert!(!holder_alive(&recycled));
        assert!(!holder_alive(&Holder {
            pid: u32::MAX - 1,
            start_ticks: 1
        }));
    }
}
