//! `vip-run collect MANIFEST`: the study tables; exits 1 when a finished item is not in one.

use std::io::Write;

use crate::cli::args::{Cli, OneManifest};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

pub fn exec(cli: &Cli, args: &OneManifest, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::on_manifest(cli, &args.common);
    let collection = flow::collect(&settings, &args.manifest)?;
    let incomplete = collection.incomplete();
    // Under `-q`, tables that took every finished item are not worth a line (cron mails
    // whatever a job prints); one that lacks an item is.
    if !settings.quiet || incomplete || settings.output == report::OutputFormat::Json {
        report::collect::render(out, &collection, settings.output)?;
    }
    Ok(if incomplete {
        exit_code::FAILED
    } else {
        exit_code::SUCCESS
    })
}
