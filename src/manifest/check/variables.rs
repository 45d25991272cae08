//! The template variables: `vars`, and the items' own variables from `matrix` or `foreach`.
//!
//! Their names are checked against each other and the built-in names here, before any
//! template is compiled, so a template error can trust the list of available variables.

use std::path::Path;

use super::findings::Findings;
use super::under;
use crate::manifest::api_key::expand_tilde;
use crate::manifest::cohort;
use crate::manifest::expand::{self, Assignment, RESERVED, is_identifier};
use crate::manifest::model::{Foreach, Manifest};
use crate::manifest::validated::LoadOptions;
use serde_saphyr::Spanned;

/// Reserved names, then `vars`, then matrix or CSV variables (a CSV or a cohort's files found
/// from `dir`, the manifest's folder): the items' assignments, or `None` when they cannot be
/// built.
pub(super) fn check(
    out: &mut Findings,
    m: &Manifest,
    options: &LoadOptions,
    dir: &Path,
) -> Option<Vec<Assignment>> {
    let vars = m.vars.as_ref().map(|v| &v.value);
    if let Some(vars) = &m.vars {
        for name in vars.value.keys() {
            if !is_identifier(name) {
                out.error(vars.referenced, format!("`{name}` is not a valid variable name"), "in these vars",
                        "variable names are letters, digits and `_`, not starting with a digit, so templates can use them");
            } else if RESERVED.contains(&name.as_str()) {
                out.error(
                    vars.referenced,
                    format!(
                        "`{name}` is a built-in template variable and cannot be redefined in `vars`"
                    ),
                    "in these vars",
                    "rename the variable",
                );
            }
        }
    }
    let taken = |name: &str| -> Option<&'static str> {
        if RESERVED.contains(&name) {
            Some("a built-in template variable")
        } else if vars.is_some_and(|v| v.contains_key(name)) {
            Some("defined in `vars`")
        } else {
            None
        }
    };
    match (&m.matrix, &m.foreach) {
        (Some(matrix), Some(foreach)) => {
            out.error(
                foreach.referenced,
                "`matrix` and `foreach` cannot both be used",
                "second source of items",
                "use `matrix` for combinations of values, or `foreach` for one item per CSV row",
            );
            let _ = matrix;
            None
        }
        (Some(matrix), None) => {
            expand::matrix(matrix, out.file, options.max_items, &taken, out.list())
        }
        (None, Some(foreach)) => match &foreach.value {
            Foreach::Csv(csv) => {
                let path = under(dir, expand_tilde(csv));
                let csv = Spanned {
                    value: csv.clone(),
                    referenced: foreach.referenced,
                    defined: foreach.defined,
                };
                expand::csv(&path, &csv, out.file, options.max_items, &taken, out.list())
            }
            Foreach::Files(files) => cohort::files(
                &files.files,
                dir,
                out.file,
                options.max_items,
                &taken,
                out.list(),
            ),
        },
        (None, None) => Some(expand::single()),
    }
}
