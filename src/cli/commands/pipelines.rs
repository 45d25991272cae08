//! `vip-run pipelines [QUERY]`.

use std::io::Write;

use crate::cli::args::Cli;
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::runtime;

pub fn exec(cli: &Cli, query: Option<&str>, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::global(cli);
    let list = runtime()?.block_on(flow::pipelines(&settings, query))?;
    report::pipelines::render(out, &list, query, settings.output)?;
    Ok(exit_code::SUCCESS)
}
