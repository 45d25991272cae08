//! `vip-run sandbox`: serves the VIP simulator until interrupted.

use crate::error::Error;
use crate::exit_code;
use crate::sandbox::serve::{self, SandboxArgs};

use super::runtime;

pub fn exec(args: &SandboxArgs) -> Result<i32, Error> {
    runtime()?
        .block_on(serve::run(args))
        .map_err(Error::Sandbox)?;
    Ok(exit_code::SUCCESS)
}
