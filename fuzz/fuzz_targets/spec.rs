//! The ClusterSpec parser (YAML → schema → validation → file:line:column location) on
//! arbitrary text. Errors are fine; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use operator::spec::{parse_str, ValidationContext};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for new_cluster in [true, false] {
        if let Err(e) = parse_str(text, "fuzz.yaml", ValidationContext { new_cluster }) {
            // Rendering the error walks the located positions too.
            let _ = e.to_string();
        }
    }
});
