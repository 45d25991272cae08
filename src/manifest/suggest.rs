//! "Did you mean …?" for misspelt keys, variables and (later) pipeline names.

/// The candidate closest to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (c, strsim::damerau_levenshtein(&lower, &c.to_lowercase())))
        .filter(|&(c, d)| d <= (c.chars().count().max(word.chars().count()) / 3).max(1))
        .min_by_key(|&(_, d)| d)
        .map(|(c, _)| c)
}

/// The `n` candidates closest to `word`, closest first (for "close matches" lists).
pub fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    n: usize,
) -> Vec<&'a str> {
    let lower = word.to_lowercase();
    let mut scored: Vec<(&str, f64)> = candidates
        .into_iter()
        .map(|c| (c, strsim::jaro_winkler(&lower, &c.to_lowercase())))
        .filter(|&(_, s)| s > 0.7)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.into_iter().take(n).map(|(c, _)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["pipeline_id", "group", "name", "version"];
        assert_eq!(did_you_mean("pipline_id", keys), Some("pipeline_id"));
        assert_eq!(did_you_mean("groups", keys), Some("group"));
        assert_eq!(did_you_mean("Version", keys), Some("version"));
        assert_eq!(did_you_mean("completely_else", keys), None);
    }

    #[test]
    fn closest_orders_by_similarity() {
        let ids = ["CQUEST/0.6", "CQUEST/0.5", "Hello/1.0"];
        assert_eq!(closest("CQEST/0.6", ids, 2), ["CQUEST/0.6", "CQUEST/0.5"]);
    }
}
