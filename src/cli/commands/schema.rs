//! `vip-run schema`: the manifest's JSON Schema, as generated from the model.

use std::io::Write;

use crate::error::Error;
use crate::exit_code;
use crate::manifest::schema::manifest_schema;

pub fn exec(out: &mut dyn Write) -> Result<i32, Error> {
    out.write_all(manifest_schema().as_bytes())?;
    Ok(exit_code::SUCCESS)
}
