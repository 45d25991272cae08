//! `vip-run logs MANIFEST [--item KEY] [--job ID] [--stderr]`.

use std::io::Write;

use crate::cli::args::{Cli, LogsArgs};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::runtime;

pub fn exec(cli: &Cli, args: &LogsArgs, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::on_manifest(cli, &args.common);
    let logs = runtime()?.block_on(flow::logs(
        &settings,
        &args.manifest,
        args.item.as_deref(),
        args.job,
        args.stderr,
    ))?;
    report::logs::render(out, &logs, settings.output)?;
    Ok(exit_code::SUCCESS)
}
