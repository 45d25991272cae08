//! Every offline check, from the raw model to a [`Validated`] manifest with its items.
//!
//! Checks collect diagnostics instead of stopping at the first, so a user fixes a manifest in
//! one round. Values are converted to VIP's spellings here (booleans `true`/`false`, numbers
//! as written) and checked against VIP's character rules, so what `validate` accepts is what
//! VIP would accept, as far as can be known without asking it.
//!
//! This file holds the [`Checker`] and the order of the checks; each submodule checks one part
//! of the manifest: `header` (version, name, pipeline, group), `connection` (api key, server),
//! `execution` (execution and results settings), `variables` (vars, matrix, foreach), `templates`
//! (compiling values), `items` (rendering each item), `values` (one rendered value) and
//! `placeholders` (`init`'s `CHANGE-ME` left in).

mod connection;
mod execution;
mod header;
mod items;
mod placeholders;
mod templates;
mod values;
mod variables;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_saphyr::Location;

use super::diagnostic::{ManifestDiagnostic, ManifestErrors, SourceFile};
use super::load as loader;
use super::model::{InputValue, Manifest};
use super::template::Templates;
use super::validated::{LoadOptions, Validated};
use values::Local;

/// Loads, parses, checks and expands the manifest at `path`.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Validated, ManifestErrors> {
    let fail = |diagnostics| ManifestErrors {
        manifest: path.display().to_string(),
        diagnostics,
    };
    let source =
        loader::read(path, loader::MAX_MANIFEST_BYTES, "manifest").map_err(|d| fail(vec![d]))?;
    let manifest = loader::parse(&source).map_err(fail)?;
    let dir = path
        .parent()
        .map_or(Path::new("."), |p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .to_path_buf();
    let mut checker = Checker {
        file: &source.file,
        dir: &dir,
        diags: Vec::new(),
        local: HashMap::new(),
        canonical_dir: None,
    };
    let validated = checker.check(&manifest, options);
    let diags = checker.diags;
    match validated {
        Some(mut v) if !diags.iter().any(ManifestDiagnostic::is_error) => {
            v.warnings = diags;
            v.secrets = source.secrets;
            Ok(v)
        }
        _ => Err(fail(diags)),
    }
}

struct Checker<'a> {
    file: &'a SourceFile,
    dir: &'a Path,
    diags: Vec<ManifestDiagnostic>,
    /// What each distinct input text names on disk (a 10,000-item matrix names the same
    /// few files over and over: one look each).
    local: HashMap<String, Local>,
    /// The manifest's folder, resolved once.
    canonical_dir: Option<PathBuf>,
}

/// Per-item problems, collapsed by place in the manifest and kind.
type Repeats = super::diagnostic::Repeats<(usize, &'static str)>;

impl Checker<'_> {
    fn error(
        &mut self,
        location: Location,
        message: impl Into<String>,
        label: &str,
        help: impl Into<String>,
    ) {
        self.diags.push(
            ManifestDiagnostic::error(message)
                .at_location(self.file, location)
                .label(label)
                .help(help),
        );
    }

    fn warn(&mut self, location: Location, message: impl Into<String>, help: impl Into<String>) {
        self.diags.push(
            ManifestDiagnostic::warning(message)
                .at_location(self.file, location)
                .help(help),
        );
    }

    /// Records a per-item problem once per place and kind, counting the other items.
    fn repeated(
        &mut self,
        repeats: &mut Repeats,
        kind: &'static str,
        diagnostic: ManifestDiagnostic,
    ) {
        let offset = diagnostic
            .at
            .as_ref()
            .map_or(usize::MAX, |(_, s)| s.offset());
        repeats.push(&mut self.diags, (offset, kind), diagnostic);
    }

    fn finish_repeats(&mut self, repeats: &Repeats) {
        repeats.finish(&mut self.diags);
    }

    fn check(&mut self, m: &Manifest, options: &LoadOptions) -> Option<Validated> {
        self.check_header(m);
        self.check_placeholders(m);
        let execution = self.check_execution(m);
        let api_key = self.check_api_key(m);
        let server = self.check_server(m);

        let assignments = self.check_variables(m, options);

        // Templates, compiled once.
        let mut templates = Templates::new();
        let inputs = self.compile_inputs(m, &mut templates);
        let (location_spec, download_spec) = self.compile_results(m, &mut templates);

        let assignments = assignments?;
        if self.diags.iter().any(ManifestDiagnostic::is_error) {
            return None;
        }

        let items = self.expand_items(
            m,
            assignments,
            &templates,
            &inputs,
            &location_spec,
            download_spec.as_ref(),
        );
        let input_locations = m
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), v.referenced))
            .collect();
        let element_locations = m
            .inputs
            .iter()
            .filter_map(|(k, v)| match &v.value {
                InputValue::List(items) => {
                    Some((k.clone(), items.iter().map(|i| i.referenced).collect()))
                }
                InputValue::Scalar(_) => None,
            })
            .collect();
        Some(Validated {
            file: self.file.clone(),
            dir: self.dir.to_path_buf(),
            name: m.name.value.clone(),
            description: m.description.clone(),
            pipeline_id: m.pipeline_id.value.clone(),
            group: m.group.value.clone(),
            api_key: api_key?,
            api_key_explicit: m.api_key.is_some(),
            server,
            execution,
            extract: m.results.extract.unwrap_or(true),
            items,
            cohort: match m.foreach.as_ref().map(|f| &f.value) {
                Some(super::model::Foreach::Files(f)) => Some(f.files.value.clone()),
                _ => None,
            },
            clean: m.results.clean.unwrap_or(false),
            project: String::new(),
            content: std::collections::HashMap::new(),
            input_locations,
            element_locations,
            pipeline_location: m.pipeline_id.referenced,
            group_location: m.group.referenced,
            warnings: Vec::new(),
            secrets: Vec::new(),
        })
    }
}

/// `path` relative to the manifest's folder, without a leading `./` when that folder is the
/// current one (paths in messages read as the user wrote them).
fn under(dir: &Path, path: PathBuf) -> PathBuf {
    if dir == Path::new(".") {
        path
    } else {
        dir.join(path)
    }
}
