//! The `vip-run` binary: parse, run, exit with the code the library chose.

fn main() {
    std::process::exit(vip_run::run(std::env::args_os()));
}
