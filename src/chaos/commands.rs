//! Command lines run in helper containers, and parsers for what they print.
//!
//! Pure functions, so the exact iptables/tc syntax — which decides whether a revert
//! removes *exactly* the rules an experiment added — is unit-tested without Docker.
//! Every iptables rule carries `-m comment --comment chaos-<id>`: deleting by the full
//! spec (comment included) can never remove a rule another experiment or the
//! container itself added, even one that is otherwise identical.

/// Which way an iptables rule matches a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Input,
    Output,
}

fn comment(id: &str) -> [String; 4] {
    [
        "-m".into(),
        "comment".into(),
        "--comment".into(),
        format!("chaos-{id}"),
    ]
}

fn rule(direction: Direction, id: &str, matcher: &[String]) -> Vec<String> {
    let mut spec = vec![match direction {
        Direction::Input => "INPUT".to_string(),
        Direction::Output => "OUTPUT".to_string(),
    }];
    spec.extend(matcher.iter().cloned());
    spec.extend(comment(id));
    spec.extend(["-j".to_string(), "DROP".to_string()]);
    spec
}

fn with_op(op: &str, spec: &[String]) -> Vec<String> {
    let mut cmd = vec!["iptables".to_string(), "-w".to_string(), op.to_string()];
    if op == "-I" {
        // Insert first, ahead of any ACCEPT rule.
        cmd.push(spec[0].clone());
        cmd.push("1".to_string());
        cmd.extend(spec[1..].iter().cloned());
    } else {
        cmd.extend(spec.iter().cloned());
    }
    cmd
}

/// `(apply, undo)` command pairs that drop all traffic to and from `peers`.
pub fn partition_rules(id: &str, peers: &[String]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mut apply = Vec::new();
    let mut undo = Vec::new();
    for peer in peers {
        for (direction, flag) in [(Direction::Input, "-s"), (Direction::Output, "-d")] {
            let spec = rule(direction, id, &[flag.to_string(), peer.clone()]);
            apply.push(with_op("-I", &spec));
            undo.push(with_op("-D", &spec));
        }
    }
    (apply, undo)
}

/// `(apply, undo)` command pairs dropping a random share of non-loopback packets.
pub fn loss_rules(id: &str, probability: f64) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mut apply = Vec::new();
    let mut undo = Vec::new();
    let p = format!("{probability}");
    for (direction, lo) in [(Direction::Input, "-i"), (Direction::Output, "-o")] {
        let matcher: Vec<String> = [
            "!",
            lo,
            "lo",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            &p,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        let spec = rule(direction, id, &matcher);
        apply.push(with_op("-I", &spec));
        undo.push(with_op("-D", &spec));
    }
    (apply, undo)
}

/// `tc qdisc add dev <dev> root netem delay …`.
pub fn netem_add(dev: &str, delay_ms: u64, jitter_ms: u64) -> Vec<String> {
    let mut cmd: Vec<String> = ["tc", "qdisc", "add", "dev", dev, "root", "netem", "delay"]
        .iter()
        .map(ToString::to_string)
        .collect();
    cmd.push(format!("{delay_ms}ms"));
    if jitter_ms > 0 {
        cmd.push(format!("{jitter_ms}ms"));
    }
    cmd
}

/// `tc qdisc add dev <dev> root tbf rate … burst … latency …`.
pub fn tbf_add(dev: &str, rate: &str, burst: &str, latency: &str) -> Vec<String> {
    [
        "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", burst, "latency",
        latency,
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
}

/// `tc qdisc del dev <dev> root`: back to the default qdisc.
pub fn qdisc_del(dev: &str) -> Vec<String> {
    ["tc", "qdisc", "del", "dev", dev, "root"]
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// True when tc's output says the kernel lacks the netem qdisc.
pub fn netem_unavailable(output: &str) -> bool {
    let o = output.to_ascii_lowercase();
    o.contains("specified qdisc kind is unknown")
        || o.contains("specified qdisc not found")
        || (o.contains("netem") && (o.contains("no such file") || o.contains("unknown")))
}

/// True when an undo command's failure means "nothing to undo" (rule or qdisc gone).
pub fn nothing_to_undo(output: &str) -> bool {
    let o = output.to_ascii_lowercase();
    o.contains("does a matching rule exist")
        || o.contains("bad rule")
        || o.contains("no such file or directory")
        || o.contains("cannot delete qdisc with handle of zero")
        || o.contains("invalid handle")
}

/// The interface holding `ip` in `ip -o -4 addr show` output
/// (`2: eth0    inet 172.18.0.2/16 brd …`); `None` when no line has it.
pub fn interface_of(ip_output: &str, ip: &str) -> Option<String> {
    ip_output.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let inet = fields.iter().position(|f| *f == "inet")?;
        let addr = fields.get(inet + 1)?.split('/').next()?;
        (addr == ip).then(|| {
            fields
                .get(1)?
                .trim_end_matches(':')
                .split('@')
                .next()
                .map(String::from)
        })?
    })
}

/// Filesystem usage from `df -P -k <path>`: `(total, used, available)` in bytes.
pub fn parse_df(output: &str) -> Option<(u64, u64, u64)> {
    let line = output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .find(|l| !l.starts_with("Filesystem"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    // Filesystem 1024-blocks Used Available Capacity Mounted-on
    let n = |i: usize| fields.get(i)?.parse::<u64>().ok().map(|k| k * 1024);
    Some((n(1)?, n(2)?, n(3)?))
}

/// Bytes to add so that `used / (used + available)` reaches `ratio` — the fill `df`
/// shows as Use% and the share of space the application can no longer get.
pub fn bytes_to_fill(used: u64, available: u64, ratio: f64) -> u64 {
    let usable = (used + available) as f64;
    let wanted = (usable * ratio).ceil() as u64;
    wanted.saturating_sub(used).min(available)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_rules_are_inserted_first_and_deleted_by_their_exact_spec() {
        let (apply, undo) = partition_rules("abc", &["172.18.0.3".to_string()]);
        assert_eq!(
            apply[0].join(" "),
            "iptables -w -I INPUT 1 -s 172.18.0.3 -m comment --comment chaos-abc -j DROP"
        );
        assert_eq!(
            undo[1].join(" "),
            "iptables -w -D OUTPUT -d 172.18.0.3 -m comment --comment chaos-abc -j DROP"
        );
        assert_eq!((apply.len(), undo.len()), (2, 2));
    }

    #[test]
    fn loss_rules_spare_loopback_and_use_the_statistic_match() {
        let (apply, undo) = loss_rules("x1", 0.3);
        assert_eq!(
            apply[0].join(" "),
            "iptables -w -I INPUT 1 ! -i lo -m statistic --mode random --probability 0.3 -m comment --comment chaos-x1 -j DROP"
        );
        assert!(undo[1]
            .join(" ")
            .starts_with("iptables -w -D OUTPUT ! -o lo"));
    }

    #[test]
    fn tc_commands_and_netem_detection() {
        assert_eq!(
            netem_add("eth0", 100, 0).join(" "),
            "tc qdisc add dev eth0 root netem delay 100ms"
        );
        assert_eq!(netem_add("eth1", 100, 10).last().unwrap(), "10ms");
        assert_eq!(
            tbf_add("eth0", "1mbit", "32kbit", "400ms").join(" "),
            "tc qdisc add dev eth0 root tbf rate 1mbit burst 32kbit latency 400ms"
        );
        // What this machine's kernel answers.
        assert!(netem_unavailable(
            "Error: Specified qdisc kind is unknown.\n"
        ));
        assert!(!netem_unavailable("RTNETLINK answers: File exists"));
        assert!(nothing_to_undo(
            "iptables: Bad rule (does a matching rule exist in that chain?)."
        ));
        assert!(nothing_to_undo(
            "Error: Cannot delete qdisc with handle of zero."
        ));
        assert!(!nothing_to_undo("iptables: Permission denied"));
    }

    #[test]
    fn the_interface_is_found_by_address() {
        let out = "1: lo    inet 127.0.0.1/8 scope host lo\n\
                   42: eth0@if43    inet 172.18.0.2/16 brd 172.18.255.255 scope global eth0\n\
                   44: eth1    inet 172.19.0.5/16 brd 172.19.255.255 scope global eth1\n";
        assert_eq!(interface_of(out, "172.18.0.2").as_deref(), Some("eth0"));
        assert_eq!(interface_of(out, "172.19.0.5").as_deref(), Some("eth1"));
        assert_eq!(interface_of(out, "10.0.0.1"), None);
    }

    #[test]
    fn df_output_gives_usage_and_the_fill_size_reaches_the_ratio() {
        let out = "Filesystem           1024-blocks    Used Available Capacity Mounted on\n\
                   tmpfs                    16384       4     16380   0% /chaos-volume\n";
        let (total, used, avail) = parse_df(out).unwrap();
        assert_eq!((total, used, avail), (16384 * 1024, 4096, 16380 * 1024));
        let add = bytes_to_fill(used, avail, 0.8);
        let ratio = (used + add) as f64 / (used + avail) as f64;
        assert!((ratio - 0.8).abs() < 0.001, "{ratio}");
        assert_eq!(bytes_to_fill(90, 10, 0.5), 0);
        assert_eq!(bytes_to_fill(0, 10, 0.99), 10);
        assert_eq!(parse_df("garbage"), None);
    }
}
