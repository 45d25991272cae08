//! The `vip-run` binary: parse, act, exit with the code the library chose.

fn main() {
    std::process::exit(vip_run::main(std::env::args_os()));
}
