//! Templates in manifest strings: Jinja syntax through tera 2, strict about undefined names.
//!
//! Every template is compiled once, then rendered per item, so a 10,000-item matrix costs
//! one parse per string, not one per item. Tera functions take keyword arguments only; the
//! design's `env("NAME")` is rewritten to `env(name="NAME")` before compiling, and positions
//! in errors are mapped back to what the user wrote.

use tera::{Context, ErrorKind, Kwargs, State, Tera};

/// A compiled template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateId(usize);

/// A template problem, with the byte range inside the template text when tera gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// What tera said, without its own snippet.
    pub message: String,
    /// Byte range in the original template text.
    pub range: Option<(usize, usize)>,
}

struct Compiled {
    name: String,
    /// Byte offsets (in the original text) where `name=` was inserted.
    insertions: Vec<usize>,
    original: String,
    /// The template as text and plain `{{ name }}`s, when it is only that.
    simple: Option<Vec<Part>>,
}

/// A piece of a simple template.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Variable(String),
}

/// `text` as literal text and `{{ name }}`s, when it is made of nothing else (most manifest
/// templates: `data/{{ subject }}/te{{ echo_time }}.txt`). Those are rendered without tera
/// when each name holds a string (see [`Templates::render`]).
fn simple_parts(text: &str) -> Option<Vec<Part>> {
    if text.contains("{%") || text.contains("{#") {
        return None;
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let (before, after) = (&rest[..open], &rest[open + 2..]);
        if before.contains("}}") {
            return None;
        }
        if !before.is_empty() {
            parts.push(Part::Text(before.to_owned()));
        }
        let close = after.find("}}")?;
        let name = after[..close].trim_matches(' ');
        if !crate::manifest::expand::is_identifier(name) {
            return None;
        }
        parts.push(Part::Variable(name.to_owned()));
        rest = &after[close + 2..];
    }
    if rest.contains("}}") {
        return None;
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Some(parts)
}

/// The manifest's templates.
pub struct Templates {
    tera: Tera,
    compiled: Vec<Compiled>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("count", &self.compiled.len())
            .finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `text` contains template markup at all (else it is used as it is).
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

#[allow(clippy::needless_pass_by_value)] // tera's function signature
fn env_function(kwargs: Kwargs, _: &State) -> tera::TeraResult<String> {
    let name: &str = kwargs.must_get("name")?;
    std::env::var(name).map_err(|_| {
        tera::Error::message(format!(
            "environment variable `{name}` is not set (read by env(\"{name}\"))"
        ))
    })
}

/// Rewrites positional `env("X")` calls to tera's keyword form; returns the new text and the
/// offsets of the insertions.
fn rewrite_env_calls(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len() + 8);
    let mut insertions = Vec::new();
    let mut last = 0;
    let mut search = 0;
    while let Some(pos) = text[search..].find("env(") {
        let call = search + pos;
        let open = call + "env(".len();
        search = open;
        let preceded_by_ident = text[..call]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
        let rest = &text[open..];
        let arg = rest.trim_start();
        if preceded_by_ident || !(arg.starts_with('"') || arg.starts_with('\'')) {
            continue;
        }
        let at = open + (rest.len() - arg.len());
        out.push_str(&text[last..at]);
        out.push_str("name=");
        insertions.push(at);
        last = at;
    }
    out.push_str(&text[last..]);
    (out, insertions)
}

impl Templates {
    /// An empty set, with `env` registered.
    pub fn new() -> Self {
        let mut tera = Tera::new();
        tera.register_function("env", env_function);
        Self {
            tera,
            compiled: Vec::new(),
        }
    }

    /// Compiles `text`.
    pub fn add(&mut self, text: &str) -> Result<TemplateId, TemplateError> {
        let (rewritten, insertions) = rewrite_env_calls(text);
        let id = self.compiled.len();
        let name = format!("t{id}");
        let compiled = Compiled {
            name: name.clone(),
            insertions,
            original: text.to_owned(),
            simple: simple_parts(text),
        };
        if let Err(err) = self.tera.add_raw_template(&name, &rewritten) {
            return Err(compiled.error(&err, &rewritten));
        }
        self.compiled.push(compiled);
        Ok(TemplateId(id))
    }

    /// Renders a compiled template with `context`.
    pub fn render(&self, id: TemplateId, context: &Context) -> Result<String, TemplateError> {
        let compiled = &self.compiled[id.0];
        if let Some(parts) = &compiled.simple
            && let Some(text) = render_simple(parts, context)
        {
            return Ok(text);
        }
        self.tera.render(&compiled.name, context).map_err(|err| {
            let (rewritten, _) = rewrite_env_calls(&compiled.original);
            compiled.error(&err, &rewritten)
        })
    }
}

impl Compiled {
    fn error(&self, err: &tera::Error, rewritten: &str) -> TemplateError {
        let report = match err.kind() {
            ErrorKind::SyntaxError(r) | ErrorKind::RenderingError(r) => Some(r),
            _ => None,
        };
        let Some(report) = report else {
            return TemplateError {
                message: root_message(err),
                range: None,
            };
        };
        let span = report.span();
        let start = byte_offset(rewritten, span.start_line, span.start_col);
        let end = byte_offset(rewritten, span.end_line, span.end_col).max(start);
        let map = |o: usize| o - 5 * self.insertions.iter().filter(|&&i| i < o).count();
        // Tera lists the context's variables itself; the diagnostic's help does that better.
        let own = report.message();
        let own = own.find(". Available variables").map_or(own, |i| &own[..i]);
        let message = match std::error::Error::source(err) {
            Some(cause) => format!("{own}: {cause}"),
            None => own.to_owned(),
        };
        TemplateError {
            message,
            range: Some((map(start), map(end).max(map(start) + 1))),
        }
    }
}

/// What tera renders for `parts`, when each variable holds a string (tera writes a string
/// as it is: templates here are not HTML, so nothing is escaped); `None` for anything else
/// (a number, a map, an undefined name), which tera then renders or explains itself.
fn render_simple(parts: &[Part], context: &Context) -> Option<String> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Variable(name) => out.push_str(context.get(name)?.as_str()?),
        }
    }
    Some(out)
}

fn root_message(err: &tera::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message = cause.to_string();
        source = cause.source();
    }
    message
}

/// Byte offset of a tera position (1-based line, 0-based character column).
fn byte_offset(text: &str, line: usize, col: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset + l.char_indices().nth(col).map_or(l.len(), |(b, _)| b);
        }
        offset += l.len();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        let mut c = Context::new();
        c.insert("subject", "sub-01");
        c.insert("echo_time", &30);
        c
    }

    #[test]
    fn renders_variables() {
        let mut t = Templates::new();
        let id = t.add("data/{{ subject }}/te{{ echo_time }}.txt").unwrap();
        assert_eq!(t.render(id, &ctx()).unwrap(), "data/sub-01/te30.txt");
    }

    /// What tera itself renders, for the fast path to agree with.
    fn by_tera(text: &str, context: &Context) -> Result<String, String> {
        let mut tera = Tera::new();
        tera.add_raw_template("t", text)
            .map_err(|e| e.to_string())?;
        tera.render("t", context).map_err(|e| e.to_string())
    }

    #[test]
    fn simple_templates_render_as_tera_renders_them() {
        let mut c = ctx();
        c.insert("flag", &true);
        c.insert("empty", "");
        c.insert("odd", "<a & 'b'> {{ x }}");
        c.insert("vars", &std::collections::BTreeMap::from([("k", "v")]));
        for text in [
            "data/{{ subject }}/te{{ echo_time }}.txt",
            "{{subject}}",
            "{{  subject  }}-{{ empty }}-{{ odd }}.html",
            "{{ flag }}",
            "{{ vars }}",
            "{{ vars.k }}",
            "a } b { c",
            "x}}y",
            "{{ subject | upper }}",
            "{{- subject -}}",
            "{{ missing }}",
            "plain",
            "",
        ] {
            let mut t = Templates::new();
            let Ok(id) = t.add(text) else {
                assert!(by_tera(text, &c).is_err(), "{text}");
                continue;
            };
            let ours = t.render(id, &c);
            assert_eq!(ours.is_ok(), by_tera(text, &c).is_ok(), "{text}");
            if let Ok(ours) = ours {
                assert_eq!(Ok(ours), by_tera(text, &c), "{text}");
            }
        }
        assert_eq!(
            simple_parts("a{{ b }}c"),
            Some(vec![
                Part::Text("a".into()),
                Part::Variable("b".into()),
                Part::Text("c".into())
            ])
        );
        assert_eq!(simple_parts("{{ b.c }}"), None);
        assert_eq!(simple_parts("{% if x %}{% endif %}"), None);
    }

    #[test]
    fn undefined_variables_are_errors_with_a_position() {
        let mut t = Templates::new();
        let id = t.add("data/{{ subjet }}/x").unwrap();
        let err = t.render(id, &ctx()).unwrap_err();
        assert!(err.message.contains("subjet"), "{err:?}");
        let (start, _) = err.range.unwrap();
        assert_eq!(&"data/{{ subjet }}/x"[start..start + 6], "subjet");
    }

    #[test]
    fn syntax_errors_are_found_when_compiling() {
        let mut t = Templates::new();
        assert!(t.add("data/{{ subject ").is_err());
    }

    #[test]
    fn env_takes_a_positional_name() {
        // SAFETY of the test: the variable name is unique to this test.
        let mut t = Templates::new();
        let id = t.add("{{ env(\"VIP_RUN_TEST_SURELY_UNSET\") }}").unwrap();
        let err = t.render(id, &ctx()).unwrap_err();
        assert!(err.message.contains("VIP_RUN_TEST_SURELY_UNSET"), "{err:?}");
        let id = t.add("{{ env(name='PATH') }}").unwrap();
        assert!(!t.render(id, &ctx()).unwrap().is_empty());
    }

    #[test]
    fn rewrite_keeps_other_calls() {
        assert_eq!(
            rewrite_env_calls("{{ myenv(\"x\") }}").0,
            "{{ myenv(\"x\") }}"
        );
        let (s, ins) = rewrite_env_calls("a{{ env( 'X') }}{{ env(\"Y\") }}");
        assert_eq!(s, "a{{ env( name='X') }}{{ env(name=\"Y\") }}");
        assert_eq!(ins.len(), 2);
    }
}
