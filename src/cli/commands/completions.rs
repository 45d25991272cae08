//! `vip-run completions SHELL`.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::args::Cli;
use crate::error::Error;
use crate::exit_code;

pub fn exec(shell: Shell, out: &mut dyn Write) -> Result<i32, Error> {
    // Into memory first: the generator panics when its writer fails (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "vip-run", &mut script);
    out.write_all(&script)?;
    out.flush()?;
    Ok(exit_code::SUCCESS)
}
