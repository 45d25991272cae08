//! `vip-run clean MANIFEST [--inputs] [--results] [--executions] [--yes]`: the plan is shown
//! and confirmed before anything is deleted.

use std::io::Write;

use crate::cli::args::{CleanArgs, Cli};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::runtime;

pub fn exec(cli: &Cli, args: &CleanArgs, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::on_manifest(cli, &args.common);
    let format = settings.output;
    let what = flow::clean::What::from_flags(args.inputs, args.results, args.executions);
    let cleaned =
        runtime()?.block_on(flow::clean(&settings, &args.manifest, what, &mut |plan| {
            report::clean::render_plan(&mut *out, plan, format)?;
            flow::clean::confirm(plan, args.yes)
        }))?;
    report::clean::render_done(out, &cleaned, format)?;
    Ok(exit_code::SUCCESS)
}
