//! `vip-run cancel MANIFEST [--item KEY]`.

use std::io::Write;

use crate::cli::args::{CancelArgs, Cli};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::runtime;

pub fn exec(cli: &Cli, args: &CancelArgs, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::on_manifest(cli, &args.common);
    let cancelled = runtime()?.block_on(flow::cancel(
        &settings,
        &args.manifest,
        args.item.as_deref(),
    ))?;
    report::cancel::render(out, &cancelled, settings.output, settings.quiet)?;
    Ok(exit_code::SUCCESS)
}
