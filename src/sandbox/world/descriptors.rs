//! What VIP derives from a pipeline's Boutiques descriptor: the inputs it fills itself
//! (`vip:overriddenInputs`, `results-directory`), the `GET /pipelines` summary and detail
//! with VIP's type mapping, and the value keys path templates use.

use serde_json::Value;

use super::PipelineDef;
use crate::vip::wire::{Descriptor, DescriptorOutput, Parameter, Pipeline};

/// `custom."vip:overriddenInputs"`: input filled by VIP → the input it is filled from.
pub(crate) fn overridden_inputs(d: &Descriptor) -> Vec<(String, String)> {
    d.custom
        .get("vip:overriddenInputs")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The output-files a descriptor does not mark `optional`: those a complete job returns.
pub(crate) fn required_outputs(d: &Descriptor) -> impl Iterator<Item = &DescriptorOutput> {
    d.output_files.iter().filter(|o| {
        !o.rest
            .get("optional")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    })
}

/// The hidden input VIP adds to every pipeline for `resultsLocation`.
pub(crate) const RESULTS_DIRECTORY: &str = "results-directory";

impl PipelineDef {
    /// The descriptor's inputs, as read.
    pub(crate) fn descriptor(&self) -> &Descriptor {
        &self.parsed
    }

    /// The list entry of `GET /pipelines`.
    pub(crate) fn summary(&self) -> Pipeline {
        Pipeline {
            identifier: self.id.clone(),
            name: self.parsed.name.clone(),
            description: None,
            version: self.parsed.tool_version.clone(),
            parameters: Vec::new(),
            can_execute: Some(true),
        }
    }

    /// The detail of `GET /pipelines/{name}/{version}`: inputs only, without the ones VIP
    /// fills itself, with VIP's type mapping (docs/vip.md#pipelines).
    pub(crate) fn detail(&self, asked_as: &str) -> Pipeline {
        let overridden: Vec<String> = overridden_inputs(&self.parsed)
            .into_iter()
            .map(|(target, _)| target)
            .collect();
        let parameters = self
            .parsed
            .inputs
            .iter()
            .filter(|i| i.id != RESULTS_DIRECTORY && !overridden.contains(&i.id))
            .map(|i| Parameter {
                name: i.id.clone(),
                kind: i.parameter_type(),
                is_optional: i.optional,
                is_returned_value: false,
                default_value: i.default_value.clone(),
                description: i.description.clone(),
            })
            .collect();
        Pipeline {
            identifier: asked_as.to_owned(),
            name: self.parsed.name.clone(),
            description: self.parsed.description.clone(),
            version: self.parsed.tool_version.clone(),
            parameters,
            can_execute: Some(true),
        }
    }

    /// The descriptor's `value-key` of an input (`[INPUT]`), for path templates.
    pub(crate) fn value_key(&self, input: &str) -> Option<&str> {
        self.descriptor
            .get("inputs")?
            .as_array()?
            .iter()
            .find(|i| i.get("id").and_then(Value::as_str) == Some(input))?
            .get("value-key")?
            .as_str()
    }
}

#[cfg(test)]
mod tests {
    use crate::sandbox::default_world;

    #[test]
    fn parameters_follow_vips_type_mapping() {
        let w = default_world();
        let detail = w.pipeline("CQUEST/0.6").unwrap().detail("CQUEST/0.6");
        let text = serde_json::to_string(&detail).unwrap();
        assert!(text.starts_with(
            r#"{"identifier":"CQUEST/0.6","name":"CQUEST","description":"Quantification of MRS signals with <b>QUEST</b>.","version":"0.6","parameters":[{"name":"zipped_folder","type":"File","isOptional":false,"isReturnedValue":false,"defaultValue":null,"description":"Basis-set archive"},{"name":"parameter_file","type":"List""#
        ), "{text}");
        assert!(text.contains(r#"{"name":"iterations","type":"Int64","isOptional":true,"isReturnedValue":false,"defaultValue":100,"#));
        assert!(text.contains(r#"{"name":"verbose","type":"Boolean","#));
    }
}
