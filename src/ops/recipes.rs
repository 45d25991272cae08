//! `recipes`: every recipe this machine has run, from the registry's records (offline, no
//! key): the last run of each, and the state it is in (running now when its run holds the
//! recipe's lock; stopped when a run started and never recorded an end).

use crate::error::Error;
use crate::report::recipes::Line;

use super::Settings;

/// One line per recipe recorded, the latest run first.
pub fn recipes(settings: &Settings) -> Result<Vec<Line>, Error> {
    let Some(registry) = &settings.registry else {
        return Err(Error::Usage(
            "no folder for vip-run's registry: set VIP_RUN_STATE_HOME, XDG_STATE_HOME or HOME"
                .into(),
        ));
    };
    Ok(registry
        .recipes()?
        .iter()
        .map(|r| r.line(registry.recipe_running(&r.manifest)))
        .collect())
}
