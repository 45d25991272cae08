//! `vip-run init ID [--output-file FILE [--force]]`.

use std::io::Write;

use crate::cli::args::{Cli, InitArgs};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::runtime;

pub fn exec(cli: &Cli, args: &InitArgs, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::global(cli);
    let starter = runtime()?.block_on(flow::init(
        &settings,
        &args.pipeline_id,
        args.output_file.as_deref(),
        args.force,
    ))?;
    report::init::render(out, &starter, settings.quiet)?;
    Ok(exit_code::SUCCESS)
}
