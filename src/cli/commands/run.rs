//! `vip-run run MANIFEST…`: each manifest's summary as soon as its run ends; the command exits
//! with the worst of their codes.

use std::io::Write;

use crate::cli::args::{Cli, RunArgs};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::{resume_hint, runtime};

pub fn exec(cli: &Cli, args: &RunArgs, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::run(cli, args)?;
    let mut code = exit_code::SUCCESS;
    runtime()?.block_on(flow::run(
        &settings,
        &args.manifests,
        &mut |path, finished| {
            let again = resume_hint(cli, &args.common, path);
            report::summary::render(out, finished, settings.output, settings.quiet, &again)?;
            code = code.max(finished.exit_code());
            Ok(())
        },
    ))?;
    Ok(code)
}
