//! `vip-run status MANIFEST…`: one manifest's table, or one line per manifest (as `recipes`
//! shows them); exits 1 when any item's execution failed, was killed or timed out.

use std::io::Write;

use crate::cli::args::{Cli, StatusArgs};
use crate::cli::resolve;
use crate::error::Error;
use crate::exit_code;
use crate::ops as flow;
use crate::report;

use super::runtime;

pub fn exec(cli: &Cli, args: &StatusArgs, out: &mut dyn Write) -> Result<i32, Error> {
    let settings = resolve::on_manifest(cli, &args.common);
    let failed = if let [manifest] = args.manifests.as_slice() {
        let status = runtime()?.block_on(flow::status(&settings, manifest))?;
        report::status::render(out, &status, settings.output)?;
        status.any_failed()
    } else {
        let lines = runtime()?.block_on(flow::status_lines(&settings, &args.manifests))?;
        let failed = lines.iter().any(|(_, failed)| *failed);
        let lines: Vec<_> = lines.into_iter().map(|(line, _)| line).collect();
        report::recipes::render(out, &lines, settings.output, crate::time::now_ms())?;
        failed
    };
    Ok(if failed {
        exit_code::FAILED
    } else {
        exit_code::SUCCESS
    })
}
