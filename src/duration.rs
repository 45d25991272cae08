//! Human durations (`30s`, `5m`, `24h`, `1h30m`, `500ms`, `2d`), one spelling for the
//! manifest, the command line and the sandbox's world files. It sits at the crate root, under
//! no layer, because the sandbox must not import the manifest layer to read a world file.

use std::fmt::Write as _;
use std::time::Duration;

/// Parses a duration such as `30s`, `1h30m` or `500ms`. The message says what is wrong.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("a duration cannot be empty".into());
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration: expected a number at `{rest}`"
            ));
        }
        let number: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is too large"))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit_ms: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("`{text}` has a number without a unit")),
            other => return Err(format!("`{other}` is not a unit of time")),
        };
        total = total
            .checked_add(number.saturating_mul(unit_ms))
            .ok_or_else(|| format!("`{text}` is too large"))?;
        rest = rest[unit_len..].trim_start();
    }
    let millis = u64::try_from(total).map_err(|_| format!("`{text}` is too large"))?;
    Ok(Duration::from_millis(millis))
}

/// Formats a duration the way a manifest would spell it (`1h30m`, `45s`, `250ms`).
pub fn format(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    // Days only from 2 days on: `24h` reads better than `1d`.
    let units: &[(&str, u128)] = if ms >= 2 * 86_400_000 {
        &[
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ]
    } else {
        &[("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)]
    };
    for &(unit, size) in units {
        if ms >= size {
            let _ = write!(out, "{}{unit}", ms / size);
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spellings_of_the_manual() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(172_800)));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        assert!(parse("30").unwrap_err().contains("without a unit"));
        assert!(
            parse("30 seconds")
                .unwrap_err()
                .contains("`seconds` is not a unit")
        );
        assert!(parse("").is_err());
        assert!(parse("h").is_err());
        assert!(parse("99999999999999999999999999d").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for s in ["1h30m", "45s", "250ms", "24h", "3d", "0s"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
