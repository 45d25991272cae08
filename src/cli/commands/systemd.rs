//! `vip-run systemd MANIFEST`: the manifest's `.service` and `.timer`.

use std::io::Write;

use crate::cli::args::{Cli, SystemdArgs};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

pub fn exec(cli: &Cli, args: &SystemdArgs, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::global(cli);
    let options = flow::SystemdOptions {
        key_file: args.key_file.clone(),
        on_calendar: args.on_calendar.clone(),
        randomized_delay: args.randomized_delay,
        dir: args.dir.clone(),
    };
    let (unit, files) = flow::systemd(&settings, &args.manifest, &options)?;
    report::systemd::render(out, &unit, &files, settings.output)?;
    Ok(exit_code::SUCCESS)
}
