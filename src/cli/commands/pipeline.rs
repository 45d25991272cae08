//! `vip-run pipeline ID`.

use std::io::Write;

use crate::cli::args::Cli;
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::runtime;

pub fn exec(cli: &Cli, id: &str, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::global(cli);
    let (pipeline, descriptor) = runtime()?.block_on(flow::pipeline(&settings, id))?;
    report::pipeline::render(out, &pipeline, &descriptor, settings.output)?;
    Ok(exit_code::SUCCESS)
}
