//! The globs of `results.expect`: `*` and `?` within one path segment, `**` for any number of
//! segments. A pattern names a file by the end of its path (`stats/*.csv` matches
//! `…/outputs/02-02-2026_09:21:23/stats/aseg.csv`), since where VIP puts a run's files above
//! them is VIP's to choose (docs/vip.md#outputs).

/// Whether `pattern` matches the last segments of `path` (`/`-separated).
pub(crate) fn matches_tail(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    (0..=segs.len()).any(|start| segments(&pat, &segs[start..]))
}

/// Whether `pat` matches all of `segs`.
fn segments(pat: &[&str], segs: &[&str]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((&"**", rest)) => (0..=segs.len()).any(|skip| segments(rest, &segs[skip..])),
        Some((first, rest)) => segs.split_first().is_some_and(|(s, more)| {
            segment(first.as_bytes(), s.as_bytes()) && segments(rest, more)
        }),
    }
}

/// Whether `pat` (with `*` and `?`) matches the segment `s`.
fn segment(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    // Where the last `*` was, and how much of `s` it had taken then.
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == s[i]) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::matches_tail;

    #[test]
    fn names_globs_and_double_stars() {
        let path = "/vip/Home/r/outputs/02-02-2026_09:21:23/sub-01/stats/aseg.csv";
        for (pattern, yes) in [
            ("aseg.csv", true),
            ("stats/aseg.csv", true),
            ("stats/*.csv", true),
            ("*.csv", true),
            ("a?eg.csv", true),
            ("sub-01/**/aseg.csv", true),
            ("**/aseg.csv", true),
            ("sub-02/**/aseg.csv", false),
            ("*.nii", false),
            ("stats", false),
            ("aseg", false),
        ] {
            assert_eq!(matches_tail(pattern, path), yes, "{pattern}");
        }
        assert!(matches_tail("brain.nii.gz", "brain.nii.gz"));
        assert!(matches_tail("*", "x"));
        assert!(!matches_tail("a*b*c", "abd"));
    }
}
