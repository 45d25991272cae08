//! `vip-run recipes`: every recipe this machine has run, one line each (or one JSON object
//! each).

use std::io::Write;

use crate::cli::args::Cli;
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

pub fn exec(cli: &Cli, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::global(cli);
    let lines = flow::recipes(&settings)?;
    if lines.is_empty() && settings.output == report::OutputFormat::Human {
        if let Some(registry) = settings.registry.as_ref().filter(|_| !settings.quiet) {
            report::to_stderr(&format!(
                "no run of a recipe is recorded in {} yet",
                registry.root().display()
            ));
        }
        return Ok(exit_code::SUCCESS);
    }
    report::recipes::render(out, &lines, settings.output, crate::time::now_ms())?;
    Ok(exit_code::SUCCESS)
}
