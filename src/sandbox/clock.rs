//! Wall-clock helpers: epoch milliseconds and seconds for VIP's dates, and the
//! `dd-MM-yyyy_HH:mm:ss` run-folder names (server local time; the sandbox's is UTC).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch (`startDate`).
pub(crate) fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Seconds since the epoch (`lastModificationDate`).
pub(crate) fn epoch_s(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Seconds since the epoch, cut to the day (VIP's precision for files).
pub(crate) fn epoch_day(t: SystemTime) -> i64 {
    let s = epoch_s(t);
    s - s.rem_euclid(86_400)
}

/// `dd-MM-yyyy_HH:mm:ss`, in UTC.
pub(crate) fn run_folder_name(t: SystemTime) -> String {
    let (y, m, d, hh, mm, ss) = crate::time::utc_parts(epoch_s(t));
    format!("{d:02}-{m:02}-{y:04}_{hh:02}:{mm:02}:{ss:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn run_folders_are_named_like_vips() {
        let t = UNIX_EPOCH + Duration::from_secs(1_770_024_083);
        assert_eq!(run_folder_name(t), "02-02-2026_09:21:23");
        assert_eq!(epoch_ms(t), 1_770_024_083_000);
        assert_eq!(epoch_day(t), 1_769_990_400);
        assert_eq!(run_folder_name(UNIX_EPOCH), "01-01-1970_00:00:00");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(run_folder_name(leap), "29-02-2000_00:00:00");
    }
}
