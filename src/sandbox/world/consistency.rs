//! The checks a world must pass before it is served: names unique and well formed, every
//! group and input referred to declared, every descriptor a Boutiques descriptor whose
//! groups and rules name its own inputs. Each message names the user, group, pipeline or input at
//! fault, because a world file is written by hand.

use std::collections::HashSet;

use super::{GroupKind, OutputRecipe, PipelineDef, Trigger, World, overridden_inputs};
use crate::sandbox::failures::FailureKind;

impl World {
    /// Checks cross-references and descriptors, and reads the descriptors. Called by
    /// [`World::from_yaml`]; call it again after changing a world by hand.
    pub fn check(&mut self) -> Result<(), String> {
        let mut emails = HashSet::new();
        let mut keys = HashSet::new();
        let mut group_names = HashSet::new();
        for g in &self.groups {
            if g.name.is_empty() || g.name.contains('/') || g.name.trim() != g.name {
                return Err(format!(
                    "group `{}`: a group name is non-empty, has no `/` and no surrounding spaces",
                    g.name
                ));
            }
            if !group_names.insert(g.name.as_str()) {
                return Err(format!("group `{}` is declared twice", g.name));
            }
        }
        for u in &self.users {
            if !emails.insert(u.email.as_str()) {
                return Err(format!("user `{}` is declared twice", u.email));
            }
            if u.api_key.is_empty() || u.api_key.trim() != u.api_key {
                return Err(format!(
                    "user `{}`: the api_key must be non-empty, without surrounding spaces",
                    u.email
                ));
            }
            if !keys.insert(u.api_key.as_str()) {
                return Err(format!(
                    "user `{}`: another user has the same api_key",
                    u.email
                ));
            }
            for g in &u.groups {
                if !group_names.contains(g.as_str()) {
                    return Err(format!(
                        "user `{}`: group `{g}` is not declared under `groups`",
                        u.email
                    ));
                }
            }
        }
        for p in &self.external_platforms {
            if p.identifier.len() < 2
                || !p
                    .identifier
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_')
            {
                return Err(format!(
                    "external platform `{}`: an identifier is two or more letters, digits or `_`",
                    p.identifier
                ));
            }
        }
        let mut ids = HashSet::new();
        let kinds: std::collections::HashMap<String, GroupKind> = self
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.kind))
            .collect();
        let kind_of = |name: &str| kinds.get(name).copied();
        for p in &mut self.pipelines {
            let at = format!("pipeline `{}`", p.id);
            if let Some(problem) = crate::vip::rules::pipeline_id_problem(&p.id) {
                return Err(format!("{at}: {problem}"));
            }
            if !ids.insert(p.id.clone()) {
                return Err(format!("{at} is declared twice"));
            }
            for g in &p.groups {
                match kind_of(g) {
                    Some(GroupKind::Application) => {}
                    Some(GroupKind::Resource) => {
                        return Err(format!(
                            "{at}: `{g}` is a RESOURCE group; list it under resource_groups"
                        ));
                    }
                    None => return Err(format!("{at}: group `{g}` is not declared")),
                }
            }
            for g in &p.resource_groups {
                match kind_of(g) {
                    Some(GroupKind::Resource) => {}
                    Some(GroupKind::Application) => {
                        return Err(format!(
                            "{at}: `{g}` is an APPLICATION group; list it under groups"
                        ));
                    }
                    None => return Err(format!("{at}: group `{g}` is not declared")),
                }
            }
            p.parsed = serde_json::from_value(p.descriptor.clone())
                .map_err(|e| format!("{at}: the descriptor is not a Boutiques descriptor: {e}"))?;
            check_descriptor(p).map_err(|e| format!("{at}: {e}"))?;
        }
        Ok(())
    }
}

fn check_descriptor(p: &PipelineDef) -> Result<(), String> {
    let d = &p.parsed;
    if d.name.is_empty() || d.tool_version.is_empty() {
        return Err("the descriptor needs a `name` and a `tool-version`".into());
    }
    let mut inputs = HashSet::new();
    for input in &d.inputs {
        if !inputs.insert(input.id.as_str()) {
            return Err(format!("input `{}` is declared twice", input.id));
        }
        if !matches!(input.kind.as_str(), "File" | "String" | "Flag" | "Number") {
            return Err(format!(
                "input `{}`: type `{}` is not File, String, Flag or Number",
                input.id, input.kind
            ));
        }
    }
    let has = |id: &str| inputs.contains(id);
    for dot in d.dot_inputs() {
        if !has(&dot) {
            return Err(format!("`vip:dot` names `{dot}`, which is not an input"));
        }
    }
    for (target, source) in overridden_inputs(d) {
        if !has(&target) || !has(&source) {
            return Err(format!(
                "`vip:overriddenInputs` maps `{target}` to `{source}`: both must be inputs"
            ));
        }
    }
    for t in [&p.fail_when, &p.slow_when].into_iter().flatten() {
        if !has(&t.input) {
            return Err(format!(
                "a trigger looks at `{}`, which is not an input",
                t.input
            ));
        }
    }
    if let Some(t) = &p.slow_when
        && (t.kind.is_some() || t.times.is_some() || t.stderr.is_some())
    {
        return Err("`slow_when` takes `input`, `contains` and `factor` only".into());
    }
    if let Some(t) = &p.fail_when {
        check_fail_when(t, d)?;
    }
    let mut outputs = HashSet::new();
    for o in &d.output_files {
        if !outputs.insert(o.id.as_str()) {
            return Err(format!("output `{}` is declared twice", o.id));
        }
        // Any Boutiques path template is accepted (value keys, sub-folders): the sandbox
        // flattens it into one file name; an output without a recipe gets a text file.
        if o.path_template.is_empty() {
            return Err(format!("output `{}`: the path-template is empty", o.id));
        }
    }
    for g in &d.groups {
        for m in &g.members {
            if !has(m) {
                return Err(format!(
                    "group `{}` names `{m}`, which is not an input",
                    g.id
                ));
            }
        }
    }
    for input in &d.inputs {
        for other in input.requires_inputs.iter().chain(&input.disables_inputs) {
            if !has(other) && !d.groups.iter().any(|g| &g.id == other) {
                return Err(format!(
                    "input `{}` requires or disables `{other}`, which is neither an input nor a group",
                    input.id
                ));
            }
        }
    }
    for (id, recipe) in &p.outputs {
        if !outputs.contains(id.as_str()) {
            return Err(format!(
                "`outputs` has a recipe for `{id}`, which is not in the descriptor's output-files"
            ));
        }
        match recipe {
            OutputRecipe::Greeting {
                message,
                repeat,
                shout,
                measure,
            } => {
                for input in [message, repeat, shout, measure] {
                    if !has(input) {
                        return Err(format!(
                            "output `{id}`: the greeting names `{input}`, which is not an input"
                        ));
                    }
                }
            }
            // Hostile member names (`../x`, `/abs`, links) are allowed on purpose: they are
            // how tests play a misbehaving server.
            OutputRecipe::Tarball { members } => {
                if members.is_empty() || members.iter().any(String::is_empty) {
                    return Err(format!("output `{id}`: a tarball needs named members"));
                }
            }
            OutputRecipe::Text { .. } | OutputRecipe::Sized { .. } => {}
        }
    }
    Ok(())
}

fn check_fail_when(t: &Trigger, d: &crate::vip::wire::Descriptor) -> Result<(), String> {
    let kind = t.failure();
    if kind == FailureKind::SlowUpload {
        return Err("`fail_when` cannot be `slow_upload`: uploads have no job values".into());
    }
    if t.stderr.is_some() && kind != FailureKind::Application {
        return Err(format!(
            "`fail_when`: `stderr` is the tool's error, which only an `application` failure \
             writes, not `{kind}`"
        ));
    }
    if t.times == Some(0) {
        return Err("`fail_when`: `times` is at least 1 (leave it out for every launch)".into());
    }
    if kind == FailureKind::OutputsMissing && super::required_outputs(d).next().is_none() {
        return Err(
            "`fail_when`: `outputs_missing` needs an output-file that is not optional".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::world::default_world_yaml;

    #[test]
    fn world_file_mistakes_are_named() {
        let base = default_world_yaml();
        let bad = base.replace("groups: [Demo, CQUEST, EGI-biomed]", "groups: [Demo, Nope]");
        let err = World::from_yaml(&bad).unwrap_err();
        assert!(err.contains("group `Nope` is not declared"), "{err}");
        let bad = base.replace("greeting: { kind: greeting", "greetings: { kind: greeting");
        let err = World::from_yaml(&bad).unwrap_err();
        assert!(err.contains("recipe for `greetings`"), "{err}");
        let err = World::from_yaml("users: []\ngroups: []\npipelines: []\nextra: 1\n").unwrap_err();
        assert!(err.contains("extra"), "{err}");
        let err = World::from_yaml("users: []\ngroups: []\npipelines:\n  - id: NoVersion\n    groups: []\n    descriptor: {}\n    outputs: {}\n").unwrap_err();
        assert!(err.contains("pipeline `NoVersion`"), "{err}");
    }

    #[test]
    fn fail_when_takes_a_kind_and_a_count() {
        let base = default_world_yaml();
        let trigger =
            "fail_when: { input: message, contains: FAIL, stderr: \"Error: asked to fail\" }";
        assert!(base.contains(trigger), "the default world changed shape");
        let with = |t: &str| World::from_yaml(&base.replace(trigger, t));
        let world =
            with("fail_when: { input: message, contains: FAIL, kind: input_download, times: 2 }")
                .unwrap();
        let t = world.pipelines[0].fail_when.as_ref().unwrap();
        assert_eq!(
            (t.failure(), t.times),
            (FailureKind::InputDownload, Some(2))
        );
        for (bad, says) in [
            (
                "fail_when: { input: message, contains: FAIL, kind: nope }",
                "nope",
            ),
            (
                "fail_when: { input: message, contains: FAIL, kind: slow_upload }",
                "slow_upload",
            ),
            (
                "fail_when: { input: message, contains: FAIL, kind: held, stderr: x }",
                "`held`",
            ),
            (
                "fail_when: { input: message, contains: FAIL, times: 0 }",
                "at least 1",
            ),
            (
                "fail_when: { input: message, contains: FAIL, count: 1 }",
                "count",
            ),
        ] {
            let err = with(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let err = World::from_yaml(&base.replace(
            "slow_when: { input: message, contains: SLOW, factor: 5 }",
            "slow_when: { input: message, contains: SLOW, kind: held }",
        ))
        .unwrap_err();
        assert!(err.contains("`slow_when` takes"), "{err}");
    }
}
