//! `vip-run whoami`.

use std::io::Write;

use crate::cli::args::Cli;
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::runtime;

pub fn exec(cli: &Cli, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::global(cli);
    let identity = runtime()?.block_on(flow::whoami(&settings))?;
    report::whoami::render(out, &identity, settings.output)?;
    Ok(exit_code::SUCCESS)
}
