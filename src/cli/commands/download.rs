//! `vip-run download MANIFEST`: the outputs of finished items, then the summary.

use std::io::Write;

use crate::cli::args::{Cli, DownloadArgs};
use crate::cli::resolve;
use crate::error::Error;
use crate::ops as flow;
use crate::report;

use super::{resume_hint, runtime};

pub fn exec(cli: &Cli, args: &DownloadArgs, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::download(cli, args);
    let finished = runtime()?.block_on(flow::download(&settings, &args.manifest))?;
    let again = resume_hint(cli, &args.common, &args.manifest);
    report::summary::render(out, &finished, settings.output, settings.quiet, &again)?;
    Ok(finished.exit_code())
}
