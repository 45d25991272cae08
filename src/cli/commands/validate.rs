//! `vip-run validate MANIFEST… [--online | --locked]`: each manifest's verdict as it is known.

use std::io::Write;

use crate::cli::args::{Cli, ValidateArgs};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;

use super::runtime;

pub fn exec(cli: &Cli, args: &ValidateArgs, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::validate(cli, args);
    runtime()?.block_on(flow::validate(
        &settings,
        &args.manifests,
        args.online,
        args.locked,
        out,
    ))?;
    Ok(exit_code::SUCCESS)
}
