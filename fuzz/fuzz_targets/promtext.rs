//! The Prometheus text-format parser (and what the monitor computes from it: histogram
//! quantiles), plus the Prometheus HTTP API's query-response decoder, on arbitrary input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use operator::promtext;
use operator::subjects::tikv::prom;

fuzz_target!(|data: &[u8]| {
    let _ = prom::parse_query_response(data);
    let text = String::from_utf8_lossy(data);
    let exposition = promtext::parse(&text);
    for family in &exposition.families {
        for h in family.histograms() {
            for q in [0.0, 0.5, 0.99, 1.0] {
                let _ = h.quantile(q);
            }
        }
    }
    let _ = promtext::parse_value(&text);
});
