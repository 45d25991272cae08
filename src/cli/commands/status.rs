//! `vip-run status MANIFEST`: the table; exits 1 when any item's execution failed, was
//! killed or timed out.

use std::io::Write;

use crate::cli::args::{Cli, OneManifest};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::runtime;

pub fn exec(cli: &Cli, args: &OneManifest, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::on_manifest(cli, &args.common);
    let status = runtime()?.block_on(flow::status(&settings, &args.manifest))?;
    report::status::render(out, &status, settings.output)?;
    Ok(if status.any_failed() {
        exit_code::FAILED
    } else {
        exit_code::SUCCESS
    })
}
