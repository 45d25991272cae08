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
    let secs = epoch_s(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{d:02}-{m:02}-{y:04}_{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
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
