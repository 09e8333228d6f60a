//! The PD/TiKV simulator binary: `tikv-sim pd ...`, `tikv-sim tikv ...`, or invoked as
//! `/pd-server` / `/tikv-server` (hard links in the image). See `operator::sim`.
fn main() {
    std::process::exit(operator::sim::cli::main_from_env());
}
