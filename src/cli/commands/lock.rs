//! `vip-run lock MANIFEST…`: writes each manifest's entry in its folder's `vip-run.lock`.

use std::io::Write;

use crate::cli::args::{Cli, LockArgs};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::runtime;

pub fn exec(cli: &Cli, args: &LockArgs, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::global(cli);
    let done = runtime()?.block_on(flow::lock(&settings, &args.manifests))?;
    report::lock::render(out, &done, settings.output)?;
    Ok(exit_code::SUCCESS)
}
