//! The TiKV/PD unified log parser and event classifier on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use operator::subjects::tikv::logs::{classify, parse_line, parse_log, LogEntry};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for entry in parse_log(&text) {
        if let LogEntry::Record(record) = &entry {
            let _ = classify(record);
        }
    }
    for line in text.lines() {
        let _ = parse_line(line);
    }
});
