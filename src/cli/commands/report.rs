//! `vip-run report MANIFEST`: rebuilds `report.html` and `trace.tsv` from the state, offline.

use std::io::Write;

use crate::cli::args::{Cli, OneManifest};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

pub fn exec(cli: &Cli, args: &OneManifest, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::on_manifest(cli, &args.common);
    let written = flow::report(&settings, &args.manifest)?;
    report::batch::render_written(out, &written, settings.output)?;
    Ok(exit_code::SUCCESS)
}
