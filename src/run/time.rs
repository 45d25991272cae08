//! Wall-clock times as vip-run records them: UTC, RFC 3339, to the second (VIP's own dates are
//! epoch milliseconds with no zone; the Python client's local times are a known defect).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `2026-11-28T06:17:02Z` for epoch milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let (y, m, d, hh, mm, ss) = crate::calendar::utc_parts(ms.div_euclid(1000));
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_770_024_083_000), "2026-02-02T09:21:23Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
