//! The crate's shape, read from `src/**/*.rs` as text: no module cycle at any level of the
//! module tree, and no type whose inherent `impl` blocks are spread over many modules.
//!
//! Both checks are functions returning what they find, so a failure names the files and lines
//! to move; each is proven able to fail on a tiny tree of its own.
//!
//! How a reference is read: every `use` (groups expanded, `as` followed), every path in code
//! starting with `crate`, `super`, `self`, a child module or a name a `use` brought in, and
//! every intra-doc link, resolves to the longest module of the tree it names. Comments that
//! are not docs, string literals and `#[cfg(test)] mod …` blocks are left out. An edge from a
//! module to one of its ancestors or descendants does not count; any other edge from a file
//! under `P::x` to one under `P::y` is an edge `x → y` among the children of `P`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Most modules a type's inherent `impl` blocks may be spread over.
const MAX_IMPL_MODULES: usize = 4;

/// A module's path below the crate (`["run", "state"]`; empty for the crate itself).
type ModulePath = Vec<String>;

fn show(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        format!("crate::{}", module.join("::"))
    }
}

/// The module a file under `src/` holds (`None`: the binary's `main.rs`, another crate).
fn module_of(file: &str) -> Option<ModulePath> {
    let stem = file.strip_suffix(".rs")?;
    let mut parts: ModulePath = stem.split('/').map(str::to_owned).collect();
    match (parts.len(), parts.last().map(String::as_str)) {
        (1, Some("lib")) => parts.clear(),
        (1, Some("main")) => return None,
        (_, Some("mod")) => {
            parts.pop();
        }
        _ => {}
    }
    Some(parts)
}

// --- reading a file ------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

/// A file's code as tokens (comments and literals gone), each with its line, and its doc
/// comments' lines.
struct Lexed {
    tokens: Vec<(Token, usize)>,
    docs: Vec<(usize, String)>,
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `text` into code tokens and doc lines; strings, characters and comments leave no
/// token behind.
fn lex(text: &str) -> Lexed {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut docs = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let prev_is_ident = |i: usize| i > 0 && is_ident_char(chars[i - 1]);
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '/' if next == Some('/') => {
                let end = chars[i..]
                    .iter()
                    .position(|c| *c == '\n')
                    .map_or(chars.len(), |p| i + p);
                let body: String = chars[i..end].iter().collect();
                if (body.starts_with("///") && !body.starts_with("////")) || body.starts_with("//!")
                {
                    docs.push((line, body[3..].to_owned()));
                }
                i = end;
            }
            '/' if next == Some('*') => {
                let mut depth = 0;
                while i < chars.len() {
                    match (chars[i], chars.get(i + 1).copied()) {
                        ('/', Some('*')) => {
                            depth += 1;
                            i += 2;
                        }
                        ('*', Some('/')) => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        ('\n', _) => {
                            line += 1;
                            i += 1;
                        }
                        _ => i += 1,
                    }
                }
            }
            '"' => i = skip_string(&chars, i + 1, None, &mut line),
            'r' | 'b' if !prev_is_ident(i) && raw_string_start(&chars, i).is_some() => {
                let (open, hashes) = raw_string_start(&chars, i).unwrap_or((i, 0));
                i = skip_string(&chars, open + 1, Some(hashes), &mut line);
            }
            '\'' => {
                // A character literal, or a lifetime (left as punctuation and a name).
                if next == Some('\\') {
                    // Past the escaped character, which may be a quote.
                    let close = chars[(i + 3).min(chars.len())..]
                        .iter()
                        .position(|c| *c == '\'')
                        .map_or(chars.len(), |p| i + 3 + p);
                    i = close + 1;
                } else if chars.get(i + 2) == Some(&'\'') {
                    i += 3;
                } else {
                    tokens.push((Token::Punct('\''), line));
                    i += 1;
                }
            }
            ':' if next == Some(':') => {
                tokens.push((Token::Sep, line));
                i += 2;
            }
            c if is_ident_char(c) => {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                tokens.push((Token::Ident(chars[start..i].iter().collect()), line));
            }
            c => {
                tokens.push((Token::Punct(c), line));
                i += 1;
            }
        }
    }
    Lexed { tokens, docs }
}

/// Where a raw string starting at `i` (`r"`, `r#"`, `br"`…) has its opening quote, and how
/// many `#` close it.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|c| **c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some((j + hashes, hashes))
}

/// The index just past the string whose contents start at `i`: a plain one (`raw`: `None`,
/// escapes apply), or a raw one closed by `"` and that many `#`.
fn skip_string(chars: &[char], mut i: usize, raw: Option<usize>, line: &mut usize) -> usize {
    let hashes = raw.unwrap_or(0);
    while i < chars.len() {
        match chars[i] {
            '\\' if raw.is_none() => {
                if chars.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
            }
            '\n' => {
                *line += 1;
                i += 1;
            }
            '"' if chars[i + 1..]
                .iter()
                .take(hashes)
                .filter(|c| **c == '#')
                .count()
                == hashes =>
            {
                return i + 1 + hashes;
            }
            _ => i += 1,
        }
    }
    i
}

/// Drops the tokens and docs of `#[cfg(test)] mod name { … }` blocks; names the modules of
/// `#[cfg(test)] mod name;` (their files are test code too).
fn drop_test_modules(lexed: &mut Lexed) -> Vec<String> {
    let t = &lexed.tokens;
    let is = |i: usize, token: &Token| t.get(i).is_some_and(|(x, _)| x == token);
    let ident = |i: usize, word: &str| is(i, &Token::Ident(word.to_owned()));
    let mut keep = vec![true; t.len()];
    let mut dropped_lines = Vec::new();
    let mut test_files = Vec::new();
    let mut i = 0;
    while i < t.len() {
        // `#` `[` `cfg` `(` `test` `)` `]`
        let cfg_test = is(i, &Token::Punct('#'))
            && is(i + 1, &Token::Punct('['))
            && ident(i + 2, "cfg")
            && is(i + 3, &Token::Punct('('))
            && ident(i + 4, "test")
            && is(i + 5, &Token::Punct(')'))
            && is(i + 6, &Token::Punct(']'));
        if !cfg_test {
            i += 1;
            continue;
        }
        let mut j = i + 7;
        while is(j, &Token::Punct('#')) && is(j + 1, &Token::Punct('[')) {
            while j < t.len() && !is(j, &Token::Punct(']')) {
                j += 1;
            }
            j += 1;
        }
        if ident(j, "pub") {
            j += 1;
            if is(j, &Token::Punct('(')) {
                while j < t.len() && !is(j, &Token::Punct(')')) {
                    j += 1;
                }
                j += 1;
            }
        }
        if !ident(j, "mod") {
            i += 1;
            continue;
        }
        let Some((Token::Ident(name), _)) = t.get(j + 1) else {
            i += 1;
            continue;
        };
        if is(j + 2, &Token::Punct(';')) {
            test_files.push(name.clone());
            keep[i..=j + 2].fill(false);
            i = j + 3;
            continue;
        }
        let mut depth = 0;
        let mut k = j + 2;
        while k < t.len() {
            match t[k].0 {
                Token::Punct('{') => depth += 1,
                Token::Punct('}') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            k += 1;
        }
        let end = k.min(t.len() - 1);
        dropped_lines.push((t[i].1, t[end].1));
        keep[i..=end].fill(false);
        i = end + 1;
    }
    let mut kept = keep.iter();
    lexed.tokens.retain(|_| *kept.next().unwrap_or(&true));
    lexed
        .docs
        .retain(|(line, _)| !dropped_lines.iter().any(|(a, b)| a <= line && line <= b));
    test_files
}

// --- references ------------------------------------------------------------------------------

/// A path written in a file, as segments, with its line.
struct Written {
    segments: Vec<String>,
    line: usize,
    /// From a `use`: also names what it brings into scope.
    alias: Option<String>,
    glob: bool,
}

/// Every path the `use` declarations of `tokens` name, groups expanded; and the tokens
/// left once those declarations are taken out.
fn split_uses(tokens: &[(Token, usize)]) -> (Vec<Written>, Vec<(Token, usize)>) {
    let mut uses = Vec::new();
    let mut rest = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let is_use = tokens[i].0 == Token::Ident("use".into())
            && (i == 0 || !matches!(tokens[i - 1].0, Token::Sep | Token::Punct('.')))
            // `use<'a>` in a return type
            && !matches!(tokens.get(i + 1), Some((Token::Punct('<'), _)));
        if !is_use {
            rest.push(tokens[i].clone());
            i += 1;
            continue;
        }
        let end = tokens[i..]
            .iter()
            .position(|(t, _)| *t == Token::Punct(';'))
            .map_or(tokens.len(), |p| i + p);
        let mut pos = 0;
        use_tree(&tokens[i + 1..end], &mut pos, &[], &mut uses);
        i = end + 1;
    }
    (uses, rest)
}

fn use_tree(tree: &[(Token, usize)], pos: &mut usize, prefix: &[String], out: &mut Vec<Written>) {
    let mut path = prefix.to_vec();
    let mut line = tree.get(*pos).map_or(0, |(_, l)| *l);
    let mut alias = None;
    let mut glob = false;
    if matches!(tree.get(*pos), Some((Token::Sep, _))) {
        return; // `::name`: another crate
    }
    while let Some((token, l)) = tree.get(*pos) {
        match token {
            Token::Ident(word) if word == "as" => {
                if let Some((Token::Ident(name), _)) = tree.get(*pos + 1) {
                    alias = Some(name.clone());
                }
                *pos += 2;
                break;
            }
            Token::Ident(word) => {
                line = *l;
                if word != "self" || path.is_empty() {
                    path.push(word.clone());
                }
                *pos += 1;
                if matches!(tree.get(*pos), Some((Token::Sep, _))) {
                    *pos += 1;
                } else {
                    if let Some((Token::Ident(w), _)) = tree.get(*pos)
                        && w == "as"
                    {
                        continue;
                    }
                    break;
                }
            }
            Token::Punct('{') => {
                *pos += 1;
                while let Some((token, _)) = tree.get(*pos) {
                    match token {
                        Token::Punct('}') => {
                            *pos += 1;
                            return;
                        }
                        Token::Punct(',') => *pos += 1,
                        _ => {
                            let before = *pos;
                            use_tree(tree, pos, &path, out);
                            if *pos == before {
                                *pos += 1;
                            }
                        }
                    }
                }
                return;
            }
            Token::Punct('*') => {
                glob = true;
                *pos += 1;
                break;
            }
            _ => {
                *pos += 1;
                break;
            }
        }
    }
    if !path.is_empty() {
        out.push(Written {
            segments: path,
            line,
            alias,
            glob,
        });
    }
}

/// Every path in code of two segments or more whose first segment is not itself behind `::`
/// or a `.` (a method call's turbofish).
fn code_paths(tokens: &[(Token, usize)]) -> Vec<Written> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts = matches!(tokens[i].0, Token::Ident(_))
            && (i == 0 || !matches!(tokens[i - 1].0, Token::Sep | Token::Punct('.')))
            && matches!(tokens.get(i + 1), Some((Token::Sep, _)))
            && matches!(tokens.get(i + 2), Some((Token::Ident(_), _)));
        if !starts {
            i += 1;
            continue;
        }
        let line = tokens[i].1;
        let mut segments = Vec::new();
        while let Some((Token::Ident(word), _)) = tokens.get(i) {
            segments.push(word.clone());
            if matches!(tokens.get(i + 1), Some((Token::Sep, _))) {
                i += 2;
            } else {
                i += 1;
                break;
            }
        }
        out.push(Written {
            segments,
            line,
            alias: None,
            glob: false,
        });
    }
    out
}

/// The paths of a doc line's intra-doc links: ``[`a::b`]``, `[text](a::b)`, `[a::b]`.
fn doc_paths(line: usize, text: &str) -> Vec<Written> {
    let mut candidates = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        candidates.push(&after[..close]);
        let tail = &after[close + 1..];
        if let Some(target) = tail.strip_prefix('(')
            && let Some(end) = target.find(')')
        {
            candidates.push(&target[..end]);
        }
        rest = tail;
    }
    candidates
        .into_iter()
        .filter_map(|c| {
            let c = c.trim().trim_matches('`');
            let c = c.rsplit_once('@').map_or(c, |(_, p)| p);
            let c = c.trim_end_matches("()").trim_end_matches('!');
            let segments: Vec<String> = c.split("::").map(str::to_owned).collect();
            let valid = segments
                .iter()
                .all(|s| !s.is_empty() && s.chars().all(is_ident_char));
            valid.then_some(Written {
                segments,
                line,
                alias: None,
                glob: false,
            })
        })
        .collect()
}

/// One source file, read.
struct Source {
    file: String,
    module: ModulePath,
    lexed: Lexed,
    /// What each name brought in by a `use` stands for, from the crate root (names from
    /// other crates left out).
    aliases: BTreeMap<String, Vec<String>>,
    uses: Vec<Written>,
    /// The code's tokens but its `use` declarations.
    code: Vec<(Token, usize)>,
}

/// The crate as read: its files, and its modules.
struct Tree {
    sources: Vec<Source>,
    modules: BTreeSet<ModulePath>,
}

impl Tree {
    /// Reads `files` (path under `src/`, text); the binary's `main.rs` and test-only module
    /// files are left out.
    fn read(files: &[(String, String)]) -> Self {
        let mut sources: Vec<Source> = files
            .iter()
            .filter_map(|(file, text)| {
                let module = module_of(file)?;
                Some(Source {
                    file: format!("src/{file}"),
                    module,
                    lexed: lex(text),
                    aliases: BTreeMap::new(),
                    uses: Vec::new(),
                    code: Vec::new(),
                })
            })
            .collect();
        let mut test_only = Vec::new();
        for s in &mut sources {
            for name in drop_test_modules(&mut s.lexed) {
                let mut m = s.module.clone();
                m.push(name);
                test_only.push(m);
            }
        }
        sources.retain(|s| !test_only.iter().any(|t| s.module.starts_with(t)));
        let mut modules: BTreeSet<ModulePath> = sources.iter().map(|s| s.module.clone()).collect();
        modules.insert(Vec::new());
        let mut tree = Self { sources, modules };
        for i in 0..tree.sources.len() {
            let (uses, code) = split_uses(&tree.sources[i].lexed.tokens);
            tree.sources[i].code = code;
            // Twice: a `use` may start with a name another `use` brought in.
            for _ in 0..2 {
                let mut aliases = BTreeMap::new();
                for u in uses.iter().filter(|u| !u.glob) {
                    let name = u.alias.clone().or_else(|| u.segments.last().cloned());
                    if let (Some(name), Some(path)) =
                        (name, tree.absolute(&tree.sources[i], &u.segments))
                    {
                        aliases.insert(name, path);
                    }
                }
                tree.sources[i].aliases = aliases;
            }
            tree.sources[i].uses = uses;
        }
        tree
    }

    /// `segments`, written in `source`, from the crate root; `None` for another crate's path
    /// or a name this tree cannot tell.
    fn absolute(&self, source: &Source, segments: &[String]) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        let mut base = source.module.clone();
        match first.as_str() {
            "crate" => base.clear(),
            "self" => {}
            "super" => {
                base.pop()?;
                let mut rest = rest;
                while let Some((s, r)) = rest.split_first()
                    && s == "super"
                {
                    base.pop()?;
                    rest = r;
                }
                base.extend(rest.iter().cloned());
                return Some(base);
            }
            name => {
                let mut child = base.clone();
                child.push(name.to_owned());
                if self.modules.contains(&child) {
                    base = child;
                } else {
                    base.clone_from(source.aliases.get(name)?);
                }
            }
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The longest module `path` (from the crate root) starts with.
    fn module_in(&self, path: &[String]) -> ModulePath {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|m| self.modules.contains(m))
            .unwrap_or_default()
    }

    /// Every module `source` refers to, with the line and the path as written. A path in code
    /// or docs through a name a `use` brought in counts only when it goes further than that
    /// `use` (which counts already).
    fn references(&self, source: &Source) -> Vec<(ModulePath, usize, String)> {
        let code = code_paths(&source.code);
        let docs = source
            .lexed
            .docs
            .iter()
            .flat_map(|(line, text)| doc_paths(*line, text));
        let mut out = Vec::new();
        for (w, from_use) in source.uses.iter().map(|w| (w, true)).chain(
            code.iter()
                .chain(&docs.collect::<Vec<_>>())
                .map(|w| (w, false)),
        ) {
            let Some(path) = self.absolute(source, &w.segments) else {
                continue;
            };
            let module = self.module_in(&path);
            let first = &w.segments[0];
            if !from_use
                && let Some(alias) = source.aliases.get(first)
                && !matches!(first.as_str(), "crate" | "self" | "super")
                && !self
                    .modules
                    .contains(&[source.module.clone(), vec![first.clone()]].concat())
                && self.module_in(alias) == module
            {
                continue;
            }
            let written = w.segments.join("::") + if w.glob { "::*" } else { "" };
            out.push((module, w.line, written));
        }
        out.sort();
        out.dedup();
        out
    }
}

// --- cycles ------------------------------------------------------------------------------------

/// One edge between two children of a module, and what makes it: file, line, path written.
type Edges = BTreeMap<(String, String), BTreeSet<(String, usize, String)>>;

/// Every strongly connected set of more than one module among the children of any module of
/// `files` (path under `src/`, text), each described with the lines making its edges.
fn cycles(files: &[(String, String)]) -> Vec<String> {
    let tree = Tree::read(files);
    let mut levels: BTreeMap<ModulePath, Edges> = BTreeMap::new();
    for source in &tree.sources {
        for (target, line, written) in tree.references(source) {
            let from = &source.module;
            let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == target.len() {
                continue; // itself, an ancestor or a descendant
            }
            levels
                .entry(from[..common].to_vec())
                .or_default()
                .entry((from[common].clone(), target[common].clone()))
                .or_default()
                .insert((source.file.clone(), line, written));
        }
    }
    let mut found = Vec::new();
    for (parent, edges) in &levels {
        for component in components(edges) {
            let mut text = format!(
                "cycle among the modules of {}: {{{}}}",
                show(parent),
                component.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            for ((a, b), lines) in edges {
                if component.contains(a) && component.contains(b) {
                    let _ = write!(text, "\n  {a} → {b}:");
                    for (file, line, written) in lines {
                        let _ = write!(text, "\n    {file}:{line} `{written}`");
                    }
                }
            }
            found.push(text);
        }
    }
    found
}

/// The strongly connected sets of more than one node of `edges`.
fn components(edges: &Edges) -> Vec<BTreeSet<String>> {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        next.entry(a).or_default().insert(b);
        next.entry(b).or_default();
    }
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from];
        while let Some(n) = todo.pop() {
            for m in &next[n] {
                if seen.insert(*m) {
                    todo.push(m);
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&str, BTreeSet<&str>> = next.keys().map(|n| (*n, reach(n))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for (n, r) in &reached {
        let component: BTreeSet<String> = r
            .iter()
            .filter(|m| reached[**m].contains(n))
            .map(|m| (*m).to_owned())
            .collect();
        if component.len() > 1 && !out.contains(&component) {
            out.push(component);
        }
    }
    out
}

// --- impl blocks -----------------------------------------------------------------------------

/// Every type whose inherent `impl` blocks are in more than [`MAX_IMPL_MODULES`] modules of
/// `files` (path under `src/`, text), with where each block is.
fn scattered_impls(files: &[(String, String)]) -> Vec<String> {
    let tree = Tree::read(files);
    // Where each type name is defined.
    let mut defined: BTreeMap<String, BTreeSet<ModulePath>> = BTreeMap::new();
    for s in &tree.sources {
        let t = &s.lexed.tokens;
        for w in t.windows(2) {
            if let (Token::Ident(kind), Token::Ident(name)) = (&w[0].0, &w[1].0)
                && matches!(kind.as_str(), "struct" | "enum" | "union")
            {
                defined
                    .entry(name.clone())
                    .or_default()
                    .insert(s.module.clone());
            }
        }
    }
    let mut blocks: BTreeMap<String, BTreeMap<ModulePath, Vec<String>>> = BTreeMap::new();
    for s in &tree.sources {
        for (path, line) in inherent_impls(&s.code) {
            let Some(key) = type_key(&tree, &defined, s, &path) else {
                continue;
            };
            blocks
                .entry(key)
                .or_default()
                .entry(s.module.clone())
                .or_default()
                .push(format!("{}:{line}", s.file));
        }
    }
    blocks
        .into_iter()
        .filter(|(_, modules)| modules.len() > MAX_IMPL_MODULES)
        .map(|(name, modules)| {
            let mut text = format!(
                "{name} has inherent impl blocks in {} modules (at most {MAX_IMPL_MODULES}):",
                modules.len()
            );
            for (module, lines) in modules {
                let _ = write!(text, "\n  {}: {}", show(&module), lines.join(", "));
            }
            text
        })
        .collect()
}

/// The type `path` names in `source`, as `crate::module::Name` when its module can be told.
fn type_key(
    tree: &Tree,
    defined: &BTreeMap<String, BTreeSet<ModulePath>>,
    source: &Source,
    path: &[String],
) -> Option<String> {
    let mut name = path.last()?.clone();
    let mut at = if path.len() > 1 {
        tree.absolute(source, path)
    } else {
        None
    };
    if path.len() == 1
        && let Some(alias) = source.aliases.get(&name)
    {
        at = Some(alias.clone());
        name = alias.last()?.clone();
    }
    let key = |m: &ModulePath| format!("{}::{name}", show(m));
    let Some(homes) = defined.get(&name) else {
        return Some(name.clone());
    };
    if homes.len() == 1 {
        return homes.first().map(key);
    }
    let Some(mut at) = at else {
        return Some(if homes.contains(&source.module) {
            key(&source.module)
        } else {
            name.clone()
        });
    };
    // Through the path written, or the `use` that brought the name in, and re-exports.
    for _ in 0..8 {
        let module = tree.module_in(&at);
        if homes.contains(&module) {
            return Some(key(&module));
        }
        let Some(next) = tree
            .sources
            .iter()
            .find(|s| s.module == module)
            .and_then(|s| s.aliases.get(&name))
        else {
            break;
        };
        at.clone_from(next);
    }
    Some(name.clone())
}

/// The type path and line of every inherent `impl` block among `tokens` (trait impls and
/// `impl Trait` types left out).
fn inherent_impls(tokens: &[(Token, usize)]) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    for (i, (token, line)) in tokens.iter().enumerate() {
        if *token != Token::Ident("impl".into()) {
            continue;
        }
        let item = i == 0
            || matches!(&tokens[i - 1].0, Token::Punct('}' | ';' | '{' | ']'))
            || tokens[i - 1].0 == Token::Ident("unsafe".into());
        if !item {
            continue;
        }
        let mut j = i + 1;
        if tokens.get(j).is_some_and(|(t, _)| *t == Token::Punct('<')) {
            j = past_angles(tokens, j);
        }
        let start = j;
        let mut depth = 0usize;
        let mut trait_impl = false;
        while let Some((t, _)) = tokens.get(j) {
            match t {
                Token::Punct('{' | ';') if depth == 0 => break,
                Token::Ident(w) if w == "where" && depth == 0 => break,
                Token::Ident(w) if w == "for" && depth == 0 => trait_impl = true,
                Token::Punct('<') => depth += 1,
                Token::Punct('>') if !matches!(tokens[j - 1].0, Token::Punct('-')) => {
                    depth = depth.saturating_sub(1);
                }
                _ => {}
            }
            j += 1;
        }
        if trait_impl {
            continue;
        }
        let mut path = Vec::new();
        for (t, _) in &tokens[start..j] {
            match t {
                Token::Ident(w) => path.push(w.clone()),
                Token::Sep => {}
                Token::Punct(_) => break,
            }
        }
        if !path.is_empty() {
            out.push((path, *line));
        }
    }
    out
}

/// The index past the `<…>` opening at `i`.
fn past_angles(tokens: &[(Token, usize)], mut i: usize) -> usize {
    let mut depth = 0usize;
    while let Some((t, _)) = tokens.get(i) {
        match t {
            Token::Punct('<') => depth += 1,
            Token::Punct('>') if !matches!(tokens[i - 1].0, Token::Punct('-')) => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

// --- the crate ---------------------------------------------------------------------------------

/// Every `.rs` file under `src/`: its path there (with `/`) and its text.
fn crate_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(root).unwrap();
                let name: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push((name.join("/"), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

fn owned(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(f, t)| ((*f).to_owned(), (*t).to_owned()))
        .collect()
}

#[test]
fn no_module_depends_on_a_module_that_depends_back_on_it() {
    let found = cycles(&crate_files());
    assert!(
        found.is_empty(),
        "{} module cycles:\n\n{}",
        found.len(),
        found.join("\n\n")
    );
}

#[test]
fn no_type_has_inherent_impls_in_more_than_four_modules() {
    let found = scattered_impls(&crate_files());
    assert!(found.is_empty(), "{}", found.join("\n\n"));
}

#[test]
fn the_cycle_check_finds_cycles_at_every_level_and_nothing_else() {
    let tree = owned(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        (
            "main.rs",
            "use vip_run::c::C;\nfn main() { crate::x::y(); }\n",
        ),
        (
            "a/mod.rs",
            "//! [`x`] and [`crate::b`]\npub mod x;\npub mod y;\n",
        ),
        (
            "a/x.rs",
            "use super::y::Y;\n/// See [`crate::c::C`] and [the other](super::y).\npub struct X;\n",
        ),
        (
            "a/y.rs",
            "use crate::c;\npub struct Y;\nfn f() -> c::C {\n    let _ = self::Y;\n    super::x::X\n}\n",
        ),
        (
            "b.rs",
            "use crate::{a::{self, x::X as Other}, c};\npub struct B;\n",
        ),
        (
            "c.rs",
            "pub struct C;\n// crate::b::B in a comment\n/// Not a link: `crate::b::B`.\nfn g() -> &'static str { let _ = 'x'; \"crate::b::B\" }\n#[cfg(test)]\nmod tests {\n    use crate::b::B;\n}\n",
        ),
    ]);
    let found = cycles(&tree);
    assert_eq!(found.len(), 2, "{found:#?}");
    // `a` reaches `c` (a link in `x`, a `use` in `y`); `c` reaches nothing outside tests,
    // comments and strings; `b` and `a` reach each other (a link, a `use` group).
    let top = found
        .iter()
        .find(|f| f.starts_with("cycle among the modules of crate: {a, b}\n"))
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert!(
        top.contains("a → b:\n    src/a/mod.rs:1 `crate::b`\n"),
        "{top}"
    );
    assert!(
        top.contains("b → a:\n    src/b.rs:1 `crate::a`\n    src/b.rs:1 `crate::a::x::X`"),
        "{top}"
    );
    assert!(!top.contains("→ c"), "{top}");
    let nested = found
        .iter()
        .find(|f| f.starts_with("cycle among the modules of crate::a: {x, y}"))
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert!(
        nested.contains("x → y:\n    src/a/x.rs:1 `super::y::Y`"),
        "{nested}"
    );
    assert!(nested.contains("src/a/x.rs:2 `super::y`"), "{nested}");
    assert!(
        nested.contains("y → x:\n    src/a/y.rs:5 `super::x::X`"),
        "{nested}"
    );
    assert!(!nested.contains("self::Y"), "{nested}");
}

#[test]
fn the_cycle_check_sees_a_cycle_between_subtrees() {
    let tree = owned(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "pub mod deep;\n"),
        (
            "a/deep.rs",
            "const S: &str = \"one \\\n    two \\\" r#\";\nconst Q: char = '\\'';\npub fn f() { crate::b::g() }\n",
        ),
        ("b/mod.rs", "pub mod inner;\npub fn g() {}\n"),
        ("b/inner.rs", "use crate::a::{\n    deep::{self, f},\n};\n"),
    ]);
    let found = cycles(&tree);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("cycle among the modules of crate: {a, b}"),
        "{}",
        found[0]
    );
    assert!(
        found[0].contains("a → b:\n    src/a/deep.rs:4 `crate::b::g`"),
        "{}",
        found[0]
    );
    assert!(
        found[0].contains("b → a:\n    src/b/inner.rs:2 `crate::a::deep`"),
        "{}",
        found[0]
    );
}

#[test]
fn the_impl_check_counts_modules_of_inherent_impls_only() {
    let mut tree = vec![(
        "lib.rs".to_owned(),
        "pub mod t;\npub mod m1;\npub mod m2;\npub mod m3;\npub mod m4;\npub mod m5;\npub struct Fine;\n"
            .to_owned(),
    )];
    tree.push((
        "t.rs".into(),
        "pub struct T<'a>(&'a str);\nimpl<'a> T<'a> {}\nimpl std::fmt::Display for T<'_> {}\n"
            .into(),
    ));
    for m in 1..=5 {
        let text = if m == 5 {
            "use crate::t::T as Renamed;\nimpl Renamed<'_> {}\nfn f(x: impl Into<String>) -> impl Fn() { || () }\n"
        } else {
            "use crate::t::T;\n#[allow(dead_code)]\nimpl T<'_> {\n    fn f(&self) {}\n}\nimpl From<u8> for T<'_> {}\n"
        };
        tree.push((format!("m{m}.rs"), text.to_owned()));
    }
    let found = scattered_impls(&tree);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("crate::t::T has inherent impl blocks in 6 modules (at most 4):"),
        "{}",
        found[0]
    );
    assert!(
        found[0].contains("crate::m4: src/m4.rs:3\n"),
        "{}",
        found[0]
    );
    assert!(
        found[0].contains("crate::m5: src/m5.rs:2\n"),
        "{}",
        found[0]
    );
    assert!(found[0].contains("crate::t: src/t.rs:2"), "{}", found[0]);
    assert!(!found[0].contains("Fine"), "{}", found[0]);
}
