//! `vip-run plan MANIFEST`: what a run would do. With `--detailed-exitcode`, the exit code
//! says whether there is anything to do (0 nothing, 2 changes, 1 any error).

use std::io::Write;

use crate::cli::args::{Cli, PlanArgs};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::runtime;

pub fn exec(cli: &Cli, args: &PlanArgs, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::plan(cli, args);
    match runtime()?.block_on(flow::plan(&settings, &args.manifest)) {
        Ok(preview) => {
            report::plan::render(out, &preview, settings.output)?;
            Ok(if args.detailed_exitcode && preview.changes() > 0 {
                exit_code::PLAN_CHANGES
            } else {
                exit_code::SUCCESS
            })
        }
        // --detailed-exitcode: 1 for any error.
        Err(e) if args.detailed_exitcode => Err(Error::Detailed(Box::new(e))),
        Err(e) => Err(e),
    }
}
