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
pub(crate) fn partition_rules(id: &str, peers: &[String]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
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
pub(crate) fn loss_rules(id: &str, probability: f64) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
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
pub(crate) fn netem_add(dev: &str, delay_ms: u64, jitter_ms: u64) -> Vec<String> {
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
pub(crate) fn tbf_add(dev: &str, rate: &str, burst: &str, latency: &str) -> Vec<String> {
    [
        "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", burst, "latency",
        latency,
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
}

/// `tc qdisc del dev <dev> root`: back to the default qdisc.
pub(crate) fn qdisc_del(dev: &str) -> Vec<String> {
    ["tc", "qdisc", "del", "dev", dev, "root"]
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// True when tc's output says the kernel lacks the netem qdisc.
pub(crate) fn netem_unavailable(output: &str) -> bool {
    let o = output.to_ascii_lowercase();
    o.contains("specified qdisc kind is unknown")
        || o.contains("specified qdisc not found")
        || (o.contains("netem") && (o.contains("no such file") || o.contains("unknown")))
}

/// True when an undo command's failure means "nothing to undo" (rule or qdisc gone).
pub(crate) fn nothing_to_undo(output: &str) -> bool {
    let o = output.to_ascii_lowercase();
    o.contains("does a matching rule exist")
        || o.contains("bad rule")
        || o.contains("no such file or directory")
        || o.contains("cannot delete qdisc with handle of zero")
        || o.contains("invalid handle")
}

/// The interface holding `ip` in `ip -o -4 addr show` output
/// (`2: eth0    inet 172.18.0.2/16 brd …`); `None` when no line has it.
pub(crate) fn interface_of(ip_output: &str, ip: &str) -> Option<String> {
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
pub(crate) fn parse_df(output: &str) -> Option<(u64, u64, u64)> {
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
pub(crate) fn bytes_to_fill(used: u64, available: u64, ratio: f64) -> u64 {
    let usable = (used + available) as f64;
    let wanted = (usable * ratio).ceil() as u64;
    wanted.saturating_sub(used).min(available)
}

/// The block device of a filesystem from `stat -c %d` (glibc's 64-bit `dev_t`
/// encoding), as `major:minor`.
pub(crate) fn device_of_stat(output: &str) -> Option<String> {
    let dev: u64 = output.trim().lines().last()?.trim().parse().ok()?;
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    Some(format!("{major}:{minor}"))
}

/// True when `s` is a `major:minor` device number (what sysfs' `dev` files hold).
pub(crate) fn is_device(s: &str) -> bool {
    s.split_once(':').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

/// The cgroup v1 blkio files of a throttle, with the `major:minor value` line each
/// takes (a value of 0 removes the device's limit).
pub(crate) fn blkio_lines(
    device: &str,
    write_iops: Option<u64>,
    write_bps: Option<u64>,
) -> Vec<(String, String)> {
    [
        ("blkio.throttle.write_iops_device", write_iops),
        ("blkio.throttle.write_bps_device", write_bps),
    ]
    .into_iter()
    .filter_map(|(file, v)| v.map(|v| (file.to_string(), format!("{device} {v}"))))
    .collect()
}

/// The limit a blkio throttle file holds for `device` (`254:0 20` lines); 0 when none.
pub(crate) fn throttle_of(file: &str, device: &str) -> u64 {
    file.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(d, _)| *d == device)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `find` for the cgroup directory of the container with full id `id` under `root`:
/// `docker/<id>` with the cgroupfs driver (or `<parent>/<id>`), `docker-<id>.scope`
/// with systemd's.
pub(crate) fn find_cgroup(root: &str, id: &str) -> Vec<String> {
    [
        "find",
        root,
        "-maxdepth",
        "4",
        "-type",
        "d",
        "(",
        "-name",
        id,
        "-o",
        "-name",
        &format!("docker-{id}.scope"),
        ")",
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
}

/// Writes one line into one file. The line and the path are `sh`'s positional
/// parameters, never parsed as shell text.
pub(crate) fn write_line(path: &str, line: &str) -> Vec<String> {
    [
        "sh",
        "-c",
        "printf '%s\\n' \"$1\" > \"$2\"",
        "sh",
        line,
        path,
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
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

    #[test]
    fn the_device_of_a_filesystem_decodes_stats_device_number() {
        // What `stat -c %d` printed for a volume on /dev/vda (254:0) on this machine.
        assert_eq!(device_of_stat("65024\n").as_deref(), Some("254:0"));
        // 8:17 (sdb1) and a minor above 255 (259:65536, glibc's split encoding).
        assert_eq!(device_of_stat("2065").as_deref(), Some("8:17"));
        let big: u64 = (259 << 8) | ((65536 & !0xff) << 12);
        assert_eq!(
            device_of_stat(&big.to_string()).as_deref(),
            Some("259:65536")
        );
        assert_eq!(device_of_stat("fe00"), None);
        assert!(is_device("254:0") && !is_device("254:") && !is_device("a:1"));
    }

    #[test]
    fn blkio_throttle_lines_name_the_device_and_read_back_per_device() {
        assert_eq!(
            blkio_lines("254:0", Some(20), None),
            vec![(
                "blkio.throttle.write_iops_device".to_string(),
                "254:0 20".to_string()
            )]
        );
        assert_eq!(blkio_lines("8:0", Some(5), Some(1_048_576)).len(), 2);
        assert_eq!(throttle_of("8:0 7\n254:0 20\n", "254:0"), 20);
        assert_eq!(throttle_of("", "254:0"), 0);
        assert_eq!(throttle_of("8:0 7\n", "254:0"), 0);
    }

    #[test]
    fn cgroup_commands_keep_values_out_of_shell_text() {
        let cmd = write_line(
            "/host-cgroup/blkio/docker/ab/blkio.throttle.write_iops_device",
            "254:0 20",
        );
        assert_eq!(cmd[2], "printf '%s\\n' \"$1\" > \"$2\"");
        assert_eq!(cmd[4], "254:0 20");
        let find = find_cgroup("/host-cgroup/blkio", "ab12");
        assert!(find.contains(&"docker-ab12.scope".to_string()));
        assert_eq!(find[find.len() - 1], ")");
    }
}
